import { createHash } from "node:crypto";
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from "jose";
import type { Actor } from "../audit/log.js";
import { escapeControlCharacters } from "../kernel/escape.js";
import type { Config } from "../settings/config.js";

/** The scopes this server understands: reading people's records, and changing them. */
export const READ_SCOPE = "users:read";
export const WRITE_SCOPE = "users:write";
export const SCOPES = [READ_SCOPE, WRITE_SCOPE] as const;

/** A verified access token. */
export interface Grant {
  actor: Actor;
  scopes: ReadonlySet<string>;
}

/** Why a request's token was not accepted; `sent` is false when there was no token at all. */
export class TokenRefused extends Error {
  constructor(
    readonly sent: boolean,
    readonly description: string,
  ) {
    super(description);
    this.name = "TokenRefused";
  }
}

/**
 * The issuer (its metadata, keys or introspection endpoint) cannot be reached in time, or refused this
 * server's own client: no token can be checked right now. Not the caller's fault, so never
 * `invalid_token`; the description names the issuer.
 */
export class IssuerUnavailable extends Error {
  constructor(readonly description: string) {
    super(description);
    this.name = "IssuerUnavailable";
  }
}

interface IssuerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
}

/** Clock skew accepted on `exp` and `nbf`. */
const SKEW_SECONDS = 60;
/** All the time the issuer gets to help check one token (discovery, keys, introspection together): one attempt each. */
export const CHECK_DEADLINE_MS = 4_000;
/** An accepted token's answer is reused until its `exp`, and for at most this long (a revoked token works this long at most). */
export const GRANT_TTL_MS = 60_000;
/** A refused token's answer is reused this long: a flood of one bad token costs the issuer one request. */
export const REFUSAL_TTL_MS = 10_000;
/** Answers kept at most (the oldest go first): random tokens cannot grow the cache without bound. */
const CACHE_ENTRIES = 10_000;
/** Signature algorithms accepted: asymmetric only (never `none`, never a shared-secret HMAC). */
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/** What was last decided about one token (keyed by its hash): its grant, or why it was refused, until when. */
interface Answer {
  until: number;
  grant?: Grant;
  refused?: TokenRefused;
}

/**
 * The OAuth 2.1 protected resource: `<USERS_MCP_PUBLIC_URL>/mcp`, accepting access tokens issued by
 * USERS_MCP_OAUTH_ISSUER for it. JWTs are verified against the issuer's JWKS (found through its
 * metadata, cached by jose, refetched on an unknown `kid`): signature, `iss`, `aud` naming this
 * resource, `exp`/`nbf` with a minute of skew. Opaque tokens go to the issuer's RFC 7662 introspection
 * endpoint when a client id and secret are set. No crypto here: jose does it.
 *
 * The issuer is a shared resource that a caller must not be able to lean on: each answer is cached
 * under a hash of the token (a grant until its `exp`, at most GRANT_TTL_MS; a refusal REFUSAL_TTL_MS),
 * concurrent checks of one token share one issuer request, the metadata is discovered once, and one
 * check gets one attempt at each issuer endpoint within CHECK_DEADLINE_MS in all.
 */
export class OAuthResource {
  readonly issuer: string;
  readonly resource: string;
  /** Where the Protected Resource Metadata (RFC 9728) of the resource is served. */
  readonly metadataUrl: string;
  private readonly clientId: string | undefined;
  private readonly clientSecret: string | undefined;
  private discovered: Promise<IssuerMetadata> | undefined;
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  private readonly answers = new Map<string, Answer>();
  private readonly checking = new Map<string, Promise<Grant>>();

  constructor(oauth: NonNullable<Config["http"]["oauth"]>) {
    this.issuer = oauth.issuer;
    this.resource = oauth.resource;
    const url = new URL(oauth.resource);
    this.metadataUrl = `${url.origin}/.well-known/oauth-protected-resource${url.pathname}`;
    this.clientId = oauth.clientId;
    this.clientSecret = oauth.clientSecret;
  }

  /** RFC 9728 Protected Resource Metadata. */
  metadata(): Record<string, unknown> {
    return {
      resource: this.resource,
      authorization_servers: [this.issuer],
      scopes_supported: [...SCOPES],
      bearer_methods_supported: ["header"],
      resource_name: "users-mcp: user accounts on Leadping, LeadConnector and 2SMS",
    };
  }

  /** The `WWW-Authenticate` value for a refused request. */
  challenge(refusal?: TokenRefused | "insufficient_scope"): string {
    const parts = [`resource_metadata="${this.metadataUrl}"`];
    if (refusal === "insufficient_scope") parts.unshift('error="insufficient_scope"', `scope="${SCOPES.join(" ")}"`);
    else if (refusal?.sent) parts.unshift('error="invalid_token"', `error_description="${refusal.description.replace(/["\\]/g, "'")}"`);
    return `Bearer ${parts.join(", ")}`;
  }

  /**
   * What is already known of a request's `Authorization` header without asking the issuer: a grant, a
   * refusal (no token, not a Bearer token, or a cached answer), or undefined when the issuer must be asked.
   */
  known(authorization: string | undefined): Grant | TokenRefused | undefined {
    const token = bearerOf(authorization);
    if (token instanceof TokenRefused) return token;
    const answer = this.answers.get(tokenKey(token));
    if (!answer) return undefined;
    if (answer.until <= Date.now()) {
      this.answers.delete(tokenKey(token));
      return undefined;
    }
    return answer.grant ?? answer.refused;
  }

  /** The grant of a request's `Authorization` header; throws TokenRefused saying why not, or IssuerUnavailable. */
  async verify(authorization: string | undefined): Promise<Grant> {
    const known = this.known(authorization);
    if (known instanceof TokenRefused) throw known;
    if (known) return known;
    const token = bearerOf(authorization) as string;
    const key = tokenKey(token);
    let check = this.checking.get(key);
    if (!check) {
      check = this.check(token, key).finally(() => this.checking.delete(key));
      this.checking.set(key, check);
    }
    return check;
  }

  /** Asks the issuer (once, within CHECK_DEADLINE_MS) and remembers its answer; an issuer failure is not remembered. */
  private async check(token: string, key: string): Promise<Grant> {
    const signal = AbortSignal.timeout(CHECK_DEADLINE_MS);
    const late = new Promise<never>((_, reject) =>
      signal.addEventListener("abort", () =>
        reject(new IssuerUnavailable(`the issuer ${this.issuer} did not answer within ${CHECK_DEADLINE_MS / 1000} s`)),
      ),
    );
    late.catch(() => {});
    try {
      const payload = await Promise.race([
        token.split(".").length === 3 ? this.verifyJwt(token, signal) : this.introspect(token, signal),
        late,
      ]);
      const grant = grantOf(payload);
      const exp = typeof payload.exp === "number" ? payload.exp * 1000 : Number.POSITIVE_INFINITY;
      this.remember(key, { until: Math.min(exp, Date.now() + GRANT_TTL_MS), grant });
      return grant;
    } catch (err) {
      if (err instanceof TokenRefused) this.remember(key, { until: Date.now() + REFUSAL_TTL_MS, refused: err });
      throw err;
    }
  }

  private remember(key: string, answer: Answer): void {
    this.answers.delete(key);
    this.answers.set(key, answer);
    if (this.answers.size > CACHE_ENTRIES) {
      const oldest = this.answers.keys().next().value;
      if (oldest !== undefined) this.answers.delete(oldest);
    }
  }

  private async verifyJwt(token: string, signal: AbortSignal): Promise<JWTPayload> {
    const meta = await this.issuerMetadata(signal);
    if (!meta.jwks_uri) throw new TokenRefused(true, "the issuer publishes no JWKS (jwks_uri)");
    this.jwks ??= createRemoteJWKSet(new URL(meta.jwks_uri), { timeoutDuration: CHECK_DEADLINE_MS, cooldownDuration: 30_000 });
    try {
      const { payload } = await jwtVerify(token, this.jwks, {
        issuer: this.issuer,
        audience: this.resource,
        clockTolerance: SKEW_SECONDS,
        algorithms: ALGORITHMS,
        requiredClaims: ["exp"],
      });
      return payload;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ERR_JWKS_TIMEOUT" || (code === undefined && err instanceof TypeError))
        throw new IssuerUnavailable(`the signing keys (JWKS) of the issuer ${this.issuer} could not be fetched`);
      throw new TokenRefused(true, jwtProblem(err));
    }
  }

  /** RFC 7662: the issuer says whether an opaque token is active, and for whom and what. */
  private async introspect(token: string, signal: AbortSignal): Promise<JWTPayload> {
    const meta = await this.issuerMetadata(signal);
    if (!this.clientId || !this.clientSecret || !meta.introspection_endpoint)
      throw new TokenRefused(true, "not a JWT, and this server cannot introspect opaque tokens (USERS_MCP_OAUTH_CLIENT_ID/_SECRET)");
    const res = await fetch(meta.introspection_endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(this.clientId)}:${encodeURIComponent(this.clientSecret)}`).toString("base64")}`,
      },
      body: new URLSearchParams({ token, token_type_hint: "access_token" }),
      signal,
    }).catch((err: unknown) => {
      throw new IssuerUnavailable(`the introspection endpoint of the issuer ${this.issuer} did not answer (${noAnswer(err)})`);
    });
    if (res.status === 401 || res.status === 403)
      throw new IssuerUnavailable(
        `the issuer ${this.issuer} refused this server's own client at its introspection endpoint (HTTP ${res.status}): check USERS_MCP_OAUTH_CLIENT_ID and USERS_MCP_OAUTH_CLIENT_SECRET`,
      );
    if (!res.ok) throw new IssuerUnavailable(`the introspection endpoint of the issuer ${this.issuer} failed (HTTP ${res.status})`);
    const body = (await res.json().catch(() => undefined)) as (JWTPayload & { active?: unknown }) | undefined;
    if (body === undefined || typeof body !== "object" || body === null)
      throw new IssuerUnavailable(`the introspection endpoint of the issuer ${this.issuer} did not answer with JSON`);
    return this.introspected(body);
  }

  /** The checks an introspection answer must pass (RFC 7662 §2.2 leaves them to the resource server). */
  private introspected(body: JWTPayload & { active?: unknown; token_type?: unknown; cnf?: unknown }): JWTPayload {
    if (body.active !== true) throw new TokenRefused(true, "the token is not active");
    const now = Math.floor(Date.now() / 1000);
    if (typeof body.exp === "number" && body.exp + SKEW_SECONDS < now) throw new TokenRefused(true, "the token has expired");
    if (body.nbf !== undefined && (typeof body.nbf !== "number" || body.nbf - SKEW_SECONDS > now))
      throw new TokenRefused(true, "the token is not valid yet");
    if (body.token_type !== undefined && !ACCESS_TOKEN_TYPES.has(String(body.token_type).toLowerCase()))
      throw new TokenRefused(true, "the token is not an access token (its token_type)");
    if (body.cnf !== undefined) throw new TokenRefused(true, "the token is sender-constrained (cnf), which this server cannot check");
    if (body.iss !== undefined && body.iss !== this.issuer) throw new TokenRefused(true, "the token was issued by another issuer");
    const aud = Array.isArray(body.aud) ? body.aud : body.aud === undefined ? [] : [body.aud];
    if (!aud.includes(this.resource)) throw new TokenRefused(true, `the token is not for this resource (${this.resource})`);
    return body;
  }

  /**
   * The issuer's metadata (RFC 8414, else OpenID Connect discovery), fetched once and kept; a failure is
   * not kept, so the next request tries again (one attempt per request).
   */
  issuerMetadata(signal: AbortSignal = AbortSignal.timeout(CHECK_DEADLINE_MS)): Promise<IssuerMetadata> {
    this.discovered ??= discover(this.issuer, signal).catch((err: unknown) => {
      this.discovered = undefined;
      throw err;
    });
    return this.discovered;
  }
}

/** Token types an introspection answer may name for an access token (RFC 7662 §2.2, RFC 6749 §7.1). */
const ACCESS_TOKEN_TYPES = new Set(["bearer", "access_token"]);

/** The key a token's answer is kept under: its hash, never the token. */
const tokenKey = (token: string): string => createHash("sha256").update(token).digest("base64url");

function bearerOf(authorization: string | undefined): string | TokenRefused {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  if (m) return m[1] as string;
  return new TokenRefused(authorization !== undefined, authorization === undefined ? "no access token" : "not a Bearer token");
}

/**
 * Who a checked token speaks for, and what it may do. Claims are the issuer's (or the person's own, for a
 * name): control characters in them are escaped here, before anything stores or shows them.
 */
function grantOf(payload: JWTPayload): Grant {
  const sub = text(payload.sub);
  const clientId = text(payload.client_id) ?? text(payload.azp);
  if (!sub && !clientId) throw new TokenRefused(true, "the token names no subject (sub) or client");
  const email = text(payload.email);
  const name = text(payload.name);
  return {
    actor: {
      sub: escapeControlCharacters(sub ?? `client:${clientId}`),
      ...(email ? { email: escapeControlCharacters(email) } : {}),
      ...(name ? { name: escapeControlCharacters(name) } : {}),
      ...(clientId ? { client_id: escapeControlCharacters(clientId) } : {}),
    },
    scopes: scopesOf(payload),
  };
}

const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function scopesOf(payload: JWTPayload): Set<string> {
  const raw = payload.scope ?? payload.scp;
  const list = typeof raw === "string" ? raw.split(/\s+/) : Array.isArray(raw) ? raw.filter((s) => typeof s === "string") : [];
  return new Set(list.filter(Boolean));
}

function jwtProblem(err: unknown): string {
  const code = (err as { code?: string }).code ?? "";
  if (code === "ERR_JWT_EXPIRED") return "the token has expired";
  if (code === "ERR_JWT_CLAIM_VALIDATION_FAILED") {
    const claim = (err as { claim?: string }).claim;
    if (claim === "aud") return "the token is not for this resource (its audience does not name it)";
    if (claim === "iss") return "the token was issued by another issuer";
    if (claim === "nbf") return "the token is not valid yet";
    return `the token's ${claim ?? "claims"} did not check out`;
  }
  if (code === "ERR_JWKS_NO_MATCHING_KEY") return "the token is signed with a key the issuer does not publish";
  if (code === "ERR_JOSE_ALG_NOT_ALLOWED") return "the token's signature algorithm is not accepted";
  if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") return "the token's signature does not verify";
  return "the token could not be verified";
}

/** Why a request to the issuer got no answer, in words for an operator (the network's error code, or the deadline). */
function noAnswer(err: unknown): string {
  const name = (err as { name?: unknown }).name;
  if (name === "TimeoutError" || name === "AbortError") return `no answer within ${CHECK_DEADLINE_MS / 1000} s`;
  const code = (err as { cause?: { code?: unknown } }).cause?.code;
  return typeof code === "string" ? `no answer: ${code}` : "no answer";
}

/** One attempt at each well-known address in turn (the next only when one has nothing), within `signal`. */
async function discover(issuer: string, signal: AbortSignal): Promise<IssuerMetadata> {
  const base = new URL(issuer);
  const path = base.pathname.replace(/\/+$/, "");
  const candidates = [
    `${base.origin}/.well-known/oauth-authorization-server${path}`,
    `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`,
    `${base.origin}/.well-known/openid-configuration${path}`,
  ];
  for (const url of candidates) {
    const res = await fetch(url, { headers: { accept: "application/json" }, signal }).catch((err: unknown) => {
      throw new IssuerUnavailable(`the metadata of the issuer ${issuer} could not be read (${noAnswer(err)})`);
    });
    if (!res.ok) continue;
    const meta = (await res.json().catch(() => undefined)) as IssuerMetadata | undefined;
    if (meta && meta.issuer === issuer) return meta;
  }
  throw new IssuerUnavailable(`the metadata of the issuer ${issuer} could not be read`);
}

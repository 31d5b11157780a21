import { createRemoteJWKSet, type JWTPayload, jwtVerify } from "jose";
import type { Actor } from "../audit/log.js";
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

/** The issuer (its metadata or keys) cannot be reached: no token can be checked right now. */
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
/** Signature algorithms accepted: asymmetric only (never `none`, never a shared-secret HMAC). */
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/**
 * The OAuth 2.1 protected resource: `<USERS_MCP_PUBLIC_URL>/mcp`, accepting access tokens issued by
 * USERS_MCP_OAUTH_ISSUER for it. JWTs are verified against the issuer's JWKS (found through its
 * metadata, cached by jose, refetched on an unknown `kid`): signature, `iss`, `aud` naming this
 * resource, `exp`/`nbf` with a minute of skew. Opaque tokens go to the issuer's RFC 7662 introspection
 * endpoint when a client id and secret are set. No crypto here: jose does it.
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

  /** The grant of a request's `Authorization` header; throws TokenRefused saying why not. */
  async verify(authorization: string | undefined): Promise<Grant> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!m) throw new TokenRefused(authorization !== undefined, authorization === undefined ? "no access token" : "not a Bearer token");
    const token = m[1] as string;
    const payload = token.split(".").length === 3 ? await this.verifyJwt(token) : await this.introspect(token);
    const sub = typeof payload.sub === "string" && payload.sub ? payload.sub : undefined;
    const clientId = text(payload.client_id) ?? text(payload.azp);
    if (!sub && !clientId) throw new TokenRefused(true, "the token names no subject (sub) or client");
    return {
      actor: {
        sub: sub ?? `client:${clientId}`,
        ...(text(payload.email) ? { email: text(payload.email) } : {}),
        ...(text(payload.name) ? { name: text(payload.name) } : {}),
        ...(clientId ? { client_id: clientId } : {}),
      },
      scopes: scopesOf(payload),
    };
  }

  private async verifyJwt(token: string): Promise<JWTPayload> {
    const meta = await this.issuerMetadata();
    if (!meta.jwks_uri) throw new TokenRefused(true, "the issuer publishes no JWKS (jwks_uri)");
    this.jwks ??= createRemoteJWKSet(new URL(meta.jwks_uri), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
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
        throw new IssuerUnavailable("the issuer's signing keys (JWKS) could not be fetched");
      throw new TokenRefused(true, jwtProblem(err));
    }
  }

  /** RFC 7662: the issuer says whether an opaque token is active, and for whom and what. */
  private async introspect(token: string): Promise<JWTPayload> {
    const meta = await this.issuerMetadata();
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
      signal: AbortSignal.timeout(5_000),
    }).catch(() => undefined);
    if (!res || res.status >= 500) throw new IssuerUnavailable("the issuer's introspection endpoint did not answer");
    if (!res.ok) throw new TokenRefused(true, `the issuer's introspection endpoint refused this server's client (HTTP ${res.status})`);
    const body = (await res.json().catch(() => ({}))) as JWTPayload & { active?: boolean };
    if (body.active !== true) throw new TokenRefused(true, "the token is not active");
    const now = Math.floor(Date.now() / 1000);
    if (typeof body.exp === "number" && body.exp + SKEW_SECONDS < now) throw new TokenRefused(true, "the token has expired");
    if (body.iss !== undefined && body.iss !== this.issuer) throw new TokenRefused(true, "the token was issued by another issuer");
    const aud = Array.isArray(body.aud) ? body.aud : body.aud === undefined ? [] : [body.aud];
    if (!aud.includes(this.resource)) throw new TokenRefused(true, `the token is not for this resource (${this.resource})`);
    return body;
  }

  /** The issuer's metadata (RFC 8414, else OpenID Connect discovery), fetched once; a failure is retried next time. */
  issuerMetadata(): Promise<IssuerMetadata> {
    this.discovered ??= discover(this.issuer).catch((err: unknown) => {
      this.discovered = undefined;
      throw err;
    });
    return this.discovered;
  }
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

async function discover(issuer: string): Promise<IssuerMetadata> {
  const base = new URL(issuer);
  const path = base.pathname.replace(/\/+$/, "");
  const candidates = [
    `${base.origin}/.well-known/oauth-authorization-server${path}`,
    `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`,
    `${base.origin}/.well-known/openid-configuration${path}`,
  ];
  for (const url of candidates) {
    const res = await fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
    if (!res?.ok) continue;
    const meta = (await res.json().catch(() => undefined)) as IssuerMetadata | undefined;
    if (meta && meta.issuer === issuer) return meta;
  }
  throw new IssuerUnavailable(`the issuer's metadata could not be read from ${issuer}`);
}

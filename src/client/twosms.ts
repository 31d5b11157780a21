import { z } from "zod";
import { type CallContext, createCallContext, raceAbort } from "./call-context.js";
import { pathSegment, UpstreamError } from "./errors.js";
import { accountKey, HttpClient, type RequestSpec } from "./request.js";

/** A 2SMS user, PascalCase as on the wire. */
export type TwoSmsUser = z.infer<typeof TwoSmsUser>;
export const TwoSmsUser = z.looseObject({
  ID: z.string().nullish(),
  AccountID: z.string().nullish(),
  AdminUser: z.boolean().nullish(),
  Enabled: z.boolean().nullish(),
  DisplayName: z.string().nullish(),
  EmailAddress: z.string().nullish(),
  Username: z.string().nullish(),
  MobilePhone: z.string().nullish(),
  TimeZone: z.string().nullish(),
  Password: z.string().nullish(),
  Pin: z.string().nullish(),
  DPAVersion: z.string().nullish(),
  PrivacyPolicyVersion: z.string().nullish(),
  LanguageID: z.string().nullish(),
  Preferences: z.union([z.number(), z.string()]).nullish(),
  DateCreated: z.string().nullish(),
  DateModified: z.string().nullish(),
  AgreementDate: z.string().nullish(),
  DeclineDate: z.string().nullish(),
});

const Envelope = z.looseObject({
  Error: z
    .looseObject({
      ErrorCode: z.union([z.string(), z.number()]).nullish(),
      ErrorReason: z.string().nullish(),
    })
    .nullish(),
  ResponseData: z
    .looseObject({
      Identification: z.looseObject({ UserId: z.string().nullish() }).nullish(),
      Result: z.unknown().optional(),
      Detail: TwoSmsUser.nullish(),
    })
    .nullish(),
});

const TokenResponse = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().nullish(),
  expires_in: z.union([z.number(), z.string()]).nullish(),
});

/** Fields the server sets itself: sending them back is at best ignored, at worst rejected. */
export const READ_ONLY_FIELDS = [
  "AgreementDate",
  "DeclineDate",
  "DPAVersion",
  "PrivacyPolicyVersion",
  "DateCreated",
  "DateModified",
] as const;
/** Fields the update endpoint requires in the body. */
export const REQUIRED_FIELDS = ["DisplayName", "EmailAddress", "Enabled", "LanguageID", "MobilePhone", "TimeZone", "Username"] as const;

export interface TwoSmsClientOptions {
  baseUrl: string;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  accessToken?: string | undefined;
  backoffBaseMs?: number;
  /** Refresh this long before the token's stated expiry. */
  expiryMarginMs?: number;
}

export interface TwoSmsResult {
  user: TwoSmsUser;
  /** `ResponseData.Result` as the server worded it, when it said anything. */
  result: string | undefined;
}

/**
 * 2SMS SMS+ REST API: OAuth 2.0 client credentials, and the user admin endpoints.
 * @see https://portal.2sms.us/Help (Token; UserAdminAPI/UserUpdateGDPR; admin/users)
 */
export class TwoSmsClient {
  readonly http: HttpClient;
  /** The credentials' account, as a hash (see accountKey): the client id, else the access token. */
  readonly account: string;
  private readonly options: TwoSmsClientOptions;
  private token: { value: string; expiresAt: number } | undefined;
  private pending: Promise<string> | undefined;
  /** Token requests made so far (the doctor and the tests read it). */
  tokenRequests = 0;

  constructor(options: TwoSmsClientOptions) {
    this.options = options;
    this.account = accountKey(options.baseUrl, options.clientId ?? options.accessToken ?? "");
    this.http = new HttpClient({ provider: "twosms", baseUrl: options.baseUrl, backoffBaseMs: options.backoffBaseMs });
    if (options.accessToken) this.token = { value: options.accessToken, expiresAt: Number.POSITIVE_INFINITY };
  }

  private get canFetchToken(): boolean {
    return Boolean(this.options.clientId && this.options.clientSecret);
  }

  /** A valid access token: the cached one, or one fresh from `POST /Token`, shared by concurrent callers. */
  async accessToken(ctx: CallContext, forceRefresh = false): Promise<string> {
    // The token request runs on its own context; an error it raises reaches this caller's outputs,
    // so this call keeps the client secret it depends on.
    ctx.keepSecret(this.options.clientSecret);
    if (!forceRefresh && this.token && Date.now() < this.token.expiresAt) return this.token.value;
    if (!this.canFetchToken) {
      if (this.token) return this.token.value;
      throw new UpstreamError({ provider: "twosms", code: "not_configured", message: "no 2SMS credentials configured" });
    }
    if (!this.pending) {
      // The token request gets its own signal: one caller cancelling must not fail the others waiting on it.
      const own = createCallContext(Math.max(1, ctx.deadline - Date.now()));
      this.pending = this.fetchToken(own).finally(() => {
        this.pending = undefined;
        own.dispose();
      });
    }
    return await raceSignal(this.pending, ctx);
  }

  private async fetchToken(ctx: CallContext): Promise<string> {
    this.tokenRequests += 1;
    try {
      const res = await this.http.send({
        method: "POST",
        path: "Token",
        form: {
          grant_type: "client_credentials",
          client_id: this.options.clientId ?? "",
          client_secret: this.options.clientSecret ?? "",
        },
        schema: TokenResponse,
        // Asking for a token changes nothing on the server, so it may be retried like a read.
        retry: "idempotent",
        ctx,
      });
      const value = res.data.access_token;
      const expiresInMs = Number(res.data.expires_in ?? 3600) * 1000;
      const margin = Math.min(this.options.expiryMarginMs ?? 60_000, expiresInMs / 2);
      this.token = { value, expiresAt: Date.now() + (Number.isFinite(expiresInMs) ? expiresInMs - margin : 0) };
      return value;
    } catch (err) {
      if (err instanceof UpstreamError && (err.status === 400 || err.status === 401)) {
        throw new UpstreamError({
          provider: "twosms",
          code: "auth_failed",
          status: err.status,
          message: "the token endpoint refused the client credentials",
          upstreamMessages: err.upstreamMessages,
          method: "POST",
          path: "Token",
        });
      }
      throw err;
    }
  }

  /** Sends with a bearer token; on a 401, fetches a new token once and repeats once (a 401 means nothing was applied). */
  private async authed<T>(spec: Omit<RequestSpec<T>, "headers">): Promise<T> {
    const token = await this.accessToken(spec.ctx);
    try {
      return (await this.http.send({ ...spec, headers: { authorization: `Bearer ${token}` } })).data;
    } catch (err) {
      if (!(err instanceof UpstreamError) || err.status !== 401) throw err;
      if (!this.canFetchToken) {
        throw new UpstreamError({
          ...err,
          provider: "twosms",
          code: "unauthorized",
          message: err.message,
          upstreamMessages: [
            ...err.upstreamMessages,
            "TWOSMS_ACCESS_TOKEN was refused and no client credentials are set to fetch a new one",
          ],
        });
      }
      this.token = undefined;
      const fresh = await this.accessToken(spec.ctx, true);
      spec.ctx.retries.push({ method: spec.method, path: spec.path, reason: "HTTP 401: fetched a new access token" });
      try {
        return (await this.http.send({ ...spec, headers: { authorization: `Bearer ${fresh}` } })).data;
      } catch (again) {
        if (again instanceof UpstreamError) again.attempts += 1;
        throw again;
      }
    }
  }

  /** `GET api/v1/admin/users/{id}` */
  async getUser(ctx: CallContext, id: string): Promise<TwoSmsResult> {
    const path = `api/v1/admin/users/${pathSegment("userId", id)}`;
    const body = await this.authed({ method: "GET", path, schema: Envelope, retry: "idempotent", ctx });
    return unwrap(body, "GET", path);
  }

  /** `POST api/v1/UserAdminAPI/UserUpdateGDPR/{id}`: replaces the user with `user`, so send the whole record. */
  async updateGdpr(ctx: CallContext, id: string, user: Record<string, unknown>): Promise<TwoSmsResult> {
    const path = `api/v1/UserAdminAPI/UserUpdateGDPR/${pathSegment("userId", id)}`;
    // Not retried on 5xx or timeouts: the write may have happened. See RetryPolicy "unsafe".
    const body = await this.authed({ method: "POST", path, json: user, schema: Envelope, retry: "unsafe", ctx });
    return unwrap(body, "POST", path);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

/** A non-empty `Error` is a failure whatever the HTTP status; a success must carry the user. */
function unwrap(body: z.infer<typeof Envelope>, method: string, path: string): TwoSmsResult {
  const e = body.Error;
  const code = e?.ErrorCode !== undefined && e?.ErrorCode !== null ? String(e.ErrorCode).trim() : "";
  const reason = e?.ErrorReason?.trim() ?? "";
  if (code !== "" || reason !== "") {
    throw new UpstreamError({
      provider: "twosms",
      code: /not\s*(be\s*)?found|no\s+such|does not exist/i.test(`${code} ${reason}`) ? "not_found" : "upstream_error",
      status: 200,
      message: "reported an error inside a successful response",
      upstreamMessages: [[code, reason].filter(Boolean).join(": ")],
      method,
      path,
    });
  }
  const detail = body.ResponseData?.Detail;
  if (!detail) {
    throw new UpstreamError({
      provider: "twosms",
      code: "bad_response",
      status: 200,
      message: "answered without an error but also without the user (ResponseData.Detail is empty)",
      method,
      path,
      maybeApplied: method !== "GET",
    });
  }
  const result = body.ResponseData?.Result;
  return { user: detail, result: typeof result === "string" && result !== "" ? result : undefined };
}

async function raceSignal<T>(promise: Promise<T>, ctx: CallContext): Promise<T> {
  try {
    return await raceAbort(promise, ctx.signal);
  } catch (err) {
    throw ctx.signal.aborted ? abortError(ctx) : err;
  }
}

function abortError(ctx: CallContext): UpstreamError {
  const timedOut = !ctx.cancelled();
  return new UpstreamError({
    provider: "twosms",
    code: timedOut ? "timeout" : "cancelled",
    message: timedOut ? `did not answer within the ${ctx.timeoutMs} ms deadline` : "the request was cancelled by the client",
    method: "POST",
    path: "Token",
  });
}

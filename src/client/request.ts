import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Agent } from "undici";
import type { z } from "zod";
import { parsesAsIs } from "../kernel/as-is.js";
import { MAX_BODY_BYTES } from "../kernel/limits.js";
import { USER_AGENT } from "../kernel/version.js";
import { type CallContext, raceAbort } from "./call-context.js";
import { type Provider, type RateLimitInfo, UpstreamError, type UpstreamErrorCode } from "./errors.js";

/**
 * A short, stable name for the account a credential acts for at one upstream: the same credential and
 * base URL give the same key, and the key reveals nothing of the credential. Writes queue per record
 * under it, and preview tokens are bound to it.
 */
export function accountKey(baseUrl: string, credential: string): string {
  return createHash("sha256").update(`${baseUrl}\n${credential}`).digest("base64url").slice(0, 16);
}

export type RetryPolicy =
  /** GET/PUT: retry 429, 502, 503, 504 and connection failures. */
  | "idempotent"
  /** A write that must not be repeated blindly: retry only 429 and a refused connection (nothing was sent). */
  | "unsafe";

export interface RequestSpec<T> {
  method: "GET" | "PUT" | "POST";
  /** Path relative to the client's base URL, already percent-encoded. */
  path: string;
  headers?: Record<string, string>;
  json?: unknown;
  form?: Record<string, string>;
  schema: z.ZodType<T>;
  retry: RetryPolicy;
  ctx: CallContext;
}

export interface HttpResponse<T> {
  status: number;
  data: T;
  headers: Record<string, string | string[] | undefined>;
  attempts: number;
  requestId: string | undefined;
}

export interface HttpClientOptions {
  provider: Provider;
  baseUrl: string;
  /** Headers on every request (auth is added per request by the provider client). */
  headers?: Record<string, string>;
  maxBodyBytes?: number;
  maxRetries?: number;
  /** Backoff base in ms; tests shorten it. */
  backoffBaseMs?: number;
  maxRetryAfterMs?: number;
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CLOSED",
]);

/**
 * One per upstream: a keep-alive connection pool, JSON in and out, the size cap, and the retry policy.
 * @see ../../README.md#how-calls-reach-the-upstreams
 */
export class HttpClient {
  readonly provider: Provider;
  readonly baseUrl: string;
  /** The connection pool once made; later requests take it without awaiting. */
  private agent: Agent | undefined;
  /** Sent with every request: user agent, accept, and the client's own (a LeadConnector API version). */
  private readonly headers: Record<string, string>;
  /** The base URL split once, so a request needs no URL parsing: origin, and a path prefix without a trailing slash. */
  private readonly origin: string;
  private readonly basePath: string;
  private readonly maxBodyBytes: number;
  private readonly maxRetries: number;
  private readonly backoffBaseMs: number;
  private readonly maxRetryAfterMs: number;

  constructor(options: HttpClientOptions) {
    this.provider = options.provider;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    const base = new URL(this.baseUrl);
    this.origin = base.origin;
    this.basePath = base.pathname.replace(/\/+$/, "");
    this.headers = { "user-agent": USER_AGENT, accept: "application/json", ...options.headers };
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
    this.maxRetries = options.maxRetries ?? 2;
    this.backoffBaseMs = options.backoffBaseMs ?? 250;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000;
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }

  /** The connection pool, made on the first request: undici is loaded only when a call needs it. */
  private async pool(): Promise<Agent> {
    const undici = await loadUndici();
    this.agent ??= new undici.Agent({
      keepAliveTimeout: 10_000,
      keepAliveMaxTimeout: 60_000,
      connections: 16,
      connect: { timeout: 10_000 },
      maxResponseSize: this.maxBodyBytes,
      // The call's deadline ends a request (through its signal). These are only a backstop, and they
      // stay constant: undici re-arms a timer of the same length in place, but makes a new one for
      // every new length, which a per-request "time remaining" would be.
      headersTimeout: 300_000,
      bodyTimeout: 300_000,
    });
    return this.agent;
  }

  async send<T>(spec: RequestSpec<T>): Promise<HttpResponse<T>> {
    let attempt = 0;
    for (;;) {
      attempt += 1;
      try {
        const res = await this.once(spec);
        res.attempts = attempt;
        return res;
      } catch (raw) {
        const err = raw instanceof UpstreamError ? raw : this.classify(raw, spec);
        err.attempts = attempt;
        const wait = this.retryDelay(err, spec, attempt);
        if (wait === undefined) throw err;
        spec.ctx.retries.push({ method: spec.method, path: spec.path, reason: retryReason(err) });
        try {
          await sleep(wait, undefined, { signal: spec.ctx.signal });
        } catch {
          throw this.abortError(spec, attempt);
        }
      }
    }
  }

  /** Milliseconds to wait before the next attempt, or undefined when the error is final. */
  private retryDelay(err: UpstreamError, spec: RequestSpec<unknown>, attempt: number): number | undefined {
    if (attempt > this.maxRetries) return undefined;
    if (err.code === "timeout" || err.code === "cancelled") return undefined;
    const eligible =
      spec.retry === "idempotent" ? err.retryable : err.status === 429 || (err.code === "network" && err.networkCode === "ECONNREFUSED");
    if (!eligible) return undefined;
    let wait: number;
    if (err.retryAfterMs !== undefined) {
      // A server asking for more than we are willing to wait is answered by giving up now and
      // telling the agent when to come back, not by sleeping through the caller's deadline.
      if (err.retryAfterMs > this.maxRetryAfterMs) return undefined;
      wait = err.retryAfterMs;
    } else {
      const base = this.backoffBaseMs * 2 ** (attempt - 1);
      wait = Math.round(base / 2 + Math.random() * base);
    }
    if (Date.now() + wait >= spec.ctx.deadline - 50) return undefined;
    return wait;
  }

  private async once<T>(spec: RequestSpec<T>): Promise<HttpResponse<T>> {
    const { ctx } = spec;
    if (ctx.signal.aborted || ctx.deadline <= Date.now()) throw this.abortError(spec, 1);

    const headers = Object.assign({}, this.headers, spec.headers);
    keepCredentials(spec);
    let body: string | undefined;
    if (spec.json !== undefined) {
      body = JSON.stringify(spec.json);
      headers["content-type"] = "application/json";
    } else if (spec.form !== undefined) {
      body = new URLSearchParams(spec.form).toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    }

    const agent = this.agent ?? (await this.pool());
    const res = await raceAbort(
      agent.request({
        origin: this.origin,
        path: `${this.basePath}/${spec.path.charCodeAt(0) === 0x2f ? spec.path.replace(/^\/+/, "") : spec.path}`,
        method: spec.method,
        headers,
        body,
        signal: ctx.signal,
      }),
      ctx.signal,
      (late) => late.body.destroy(),
    );

    const requestId = headerValue(res.headers, "x-request-id") ?? headerValue(res.headers, "request-id");
    if (requestId !== undefined) ctx.requestId = requestId;
    const text = await this.readBody(res.body, res.headers, spec);

    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw this.statusError(res.statusCode, res.headers, text, spec, requestId);
    }

    let json: unknown;
    if (text.trim() === "") {
      json = undefined;
    } else {
      try {
        json = JSON.parse(text);
      } catch {
        throw new UpstreamError({
          provider: this.provider,
          code: "bad_response",
          status: res.statusCode,
          message: `answered HTTP ${res.statusCode} with a body that is not JSON (${describeContentType(res.headers)})`,
          method: spec.method,
          path: spec.path,
          requestId,
          maybeApplied: spec.method !== "GET",
        });
      }
    }
    // A body that already is what the schema describes is used as it is, without zod's copy.
    if (parsesAsIs(spec.schema, json)) return { status: res.statusCode, data: json as T, headers: res.headers, requestId, attempts: 1 };
    const parsed = spec.schema.safeParse(json);
    if (!parsed.success) {
      const where = parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`)
        .join("; ");
      throw new UpstreamError({
        provider: this.provider,
        code: "bad_response",
        status: res.statusCode,
        message: `answered HTTP ${res.statusCode} with a body of an unexpected shape (${where})`,
        method: spec.method,
        path: spec.path,
        requestId,
        maybeApplied: spec.method !== "GET",
      });
    }
    return { status: res.statusCode, data: parsed.data, headers: res.headers, requestId, attempts: 1 };
  }

  private async readBody(
    body: { text(): Promise<string>; destroy(err?: Error): unknown },
    headers: Record<string, string | string[] | undefined>,
    spec: RequestSpec<unknown>,
  ): Promise<string> {
    const declared = Number(headerValue(headers, "content-length"));
    if (Number.isFinite(declared) && declared > this.maxBodyBytes) {
      body.destroy();
      throw this.tooLarge(spec);
    }
    try {
      // The pool's maxResponseSize stops the read as soon as the body passes the cap.
      return await body.text();
    } catch (err) {
      if ((err as { code?: string }).code === "UND_ERR_RES_EXCEEDED_MAX_SIZE") throw this.tooLarge(spec);
      throw err;
    }
  }

  private tooLarge(spec: RequestSpec<unknown>): UpstreamError {
    return new UpstreamError({
      provider: this.provider,
      code: "too_large",
      message: `sent a response larger than ${Math.round(this.maxBodyBytes / 1024)} KiB; it was not read`,
      method: spec.method,
      path: spec.path,
      maybeApplied: spec.method !== "GET",
    });
  }

  private statusError(
    status: number,
    headers: Record<string, string | string[] | undefined>,
    text: string,
    spec: RequestSpec<unknown>,
    requestId: string | undefined,
  ): UpstreamError {
    const details = extractErrorDetails(text);
    if (status >= 300 && status < 400) {
      // Redirects are never followed: the credential goes only to the configured origin.
      let to = "no Location given";
      try {
        const location = headerValue(headers, "location");
        if (location) to = `to ${new URL(location, `${this.origin}/`).origin}`;
      } catch {
        to = "to an unparseable Location";
      }
      details.messages = [`redirect ${to}, not followed: credentials are sent only to ${this.origin}`];
    }
    const retryAfterMs = parseRetryAfter(headerValue(headers, "retry-after"));
    const code: UpstreamErrorCode =
      status === 401
        ? "unauthorized"
        : status === 403
          ? "forbidden"
          : status === 404
            ? "not_found"
            : status === 429
              ? "rate_limited"
              : status === 400 || status === 409 || status === 422
                ? "rejected"
                : status >= 500
                  ? "server_error"
                  : "http_error";
    return new UpstreamError({
      provider: this.provider,
      code,
      status,
      message: `answered HTTP ${status}${details.messages.length ? `: ${details.messages.join("; ")}` : ""}`,
      upstreamMessages: details.messages,
      fieldErrors: details.fieldErrors,
      retryable: RETRYABLE_STATUS.has(status),
      retryAfterMs,
      requestId,
      method: spec.method,
      path: spec.path,
      rateLimit: status === 429 ? parseRateLimit(headers) : undefined,
      // A 5xx on a write may come after the write happened; 4xx means it was refused.
      maybeApplied: spec.method !== "GET" && status >= 500,
    });
  }

  private abortError(spec: RequestSpec<unknown>, attempts: number): UpstreamError {
    // Only the MCP client (or a shutdown) cancels; every other stop is the deadline, whichever
    // timer noticed it first (the call's signal, or undici's headers or body timeout).
    const timedOut = !spec.ctx.cancelled();
    return new UpstreamError({
      provider: this.provider,
      code: timedOut ? "timeout" : "cancelled",
      message: timedOut ? `did not answer within the ${spec.ctx.timeoutMs} ms deadline` : "the request was cancelled by the client",
      method: spec.method,
      path: spec.path,
      attempts,
      maybeApplied: spec.method !== "GET",
    });
  }

  private classify(raw: unknown, spec: RequestSpec<unknown>): UpstreamError {
    if (spec.ctx.signal.aborted) return this.abortError(spec, 1);
    const err = raw as { code?: string; message?: string; cause?: { code?: string; message?: string } };
    const code = err?.code ?? err?.cause?.code;
    if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") return this.abortError(spec, 1);
    const nothingSent = code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "UND_ERR_CONNECT_TIMEOUT";
    return new UpstreamError({
      provider: this.provider,
      code: "network",
      networkCode: code,
      message: `could not be reached at ${this.baseUrl} (${networkWords(code, err?.message)})`,
      retryable: code !== undefined && CONNECTION_CODES.has(code),
      method: spec.method,
      path: spec.path,
      maybeApplied: spec.method !== "GET" && !nothingSent,
    });
  }
}

/** Body fields that carry a credential being written (LeadConnector's password, 2SMS's Password and Pin). */
const CREDENTIAL_FIELDS = ["password", "Password", "pin", "Pin"] as const;

/**
 * The credentials a request carries, known by where they are (the Authorization header, a client
 * secret in a token request, a password or PIN in a body), are kept on the call: an upstream that
 * echoes one in its answer has it scrubbed from this call's outputs, and from no one else's.
 */
function keepCredentials(spec: RequestSpec<unknown>): void {
  const auth = spec.headers?.authorization;
  if (auth !== undefined) spec.ctx.keepSecret(auth.startsWith("Bearer ") ? auth.slice(7) : auth);
  if (spec.form?.client_secret !== undefined) spec.ctx.keepSecret(spec.form.client_secret);
  const json = spec.json;
  if (json !== null && typeof json === "object" && !Array.isArray(json))
    for (const f of CREDENTIAL_FIELDS) {
      const v = (json as Record<string, unknown>)[f];
      if (typeof v === "string") spec.ctx.keepSecret(v, "errors");
    }
}

let undici: Promise<typeof import("undici")> | undefined;
/** undici takes a tenth of a second to load; a server that is only listed or initialized never needs it. */
function loadUndici(): Promise<typeof import("undici")> {
  undici ??= import("undici");
  return undici;
}

function retryReason(err: UpstreamError): string {
  if (err.status !== undefined) return `HTTP ${err.status}`;
  return err.networkCode ?? err.code;
}

function networkWords(code: string | undefined, message: string | undefined): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return "connection closed by the other side";
    case "ENOTFOUND":
      return "host name not found";
    case "EAI_AGAIN":
      return "DNS lookup failed";
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connect timed out";
    default:
      return code ?? message ?? "network error";
  }
}

export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function describeContentType(headers: Record<string, string | string[] | undefined>): string {
  const ct = headerValue(headers, "content-type");
  return ct ? `content type ${ct.split(";")[0]}` : "no content type";
}

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  // Anything else must be an HTTP date (a weekday or month name in it); "-5" or "soon" count as absent,
  // not as a date in the past that would mean "retry at once".
  if (!/^[A-Za-z]{3,9},? /.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function num(headers: Record<string, string | string[] | undefined>, name: string): number | undefined {
  const v = headerValue(headers, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function parseRateLimit(headers: Record<string, string | string[] | undefined>): RateLimitInfo | undefined {
  const info: RateLimitInfo = {
    limit: num(headers, "x-ratelimit-max"),
    remaining: num(headers, "x-ratelimit-remaining"),
    intervalMs: num(headers, "x-ratelimit-interval-milliseconds"),
    dailyLimit: num(headers, "x-ratelimit-limit-daily"),
    dailyRemaining: num(headers, "x-ratelimit-daily-remaining"),
  };
  return Object.values(info).some((v) => v !== undefined) ? info : undefined;
}

const MAX_MESSAGE = 500;

function clip(s: string): string {
  const t = s.trim();
  return t.length > MAX_MESSAGE ? `${t.slice(0, MAX_MESSAGE)}…` : t;
}

/**
 * The upstreams speak three error dialects: RFC 9457 problem details (Leadping),
 * `{ statusCode, message: string | string[] }` (LeadConnector), and OAuth/envelope errors (2SMS).
 * One reader takes whichever it finds, so a drifting contract still yields the upstream's words.
 */
export function extractErrorDetails(text: string): { messages: string[]; fieldErrors?: Record<string, string[]> } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    const plain = text.trim();
    // An HTML error page says nothing an agent can use; a short plain-text one might.
    if (plain === "" || plain.startsWith("<")) return { messages: [] };
    return { messages: [clip(plain)] };
  }
  if (body === null || typeof body !== "object") return { messages: [] };
  const b = body as Record<string, unknown>;
  const messages: string[] = [];
  const push = (v: unknown) => {
    if (typeof v === "string" && v.trim() !== "" && !messages.includes(clip(v))) messages.push(clip(v));
  };
  push(b.title);
  push(b.detail);
  if (Array.isArray(b.message)) b.message.forEach(push);
  else push(b.message);
  push(b.Message);
  push(b.error_description);
  if (messages.length === 0 && typeof b.error === "string") push(b.error);
  const envelope = b.Error as Record<string, unknown> | null | undefined;
  if (envelope && typeof envelope === "object") {
    const code = typeof envelope.ErrorCode === "string" ? envelope.ErrorCode : undefined;
    const reason = typeof envelope.ErrorReason === "string" ? envelope.ErrorReason : undefined;
    if (code || reason) push([code, reason].filter(Boolean).join(": "));
  }
  let fieldErrors: Record<string, string[]> | undefined;
  const errors = b.errors ?? b.ModelState;
  if (errors && typeof errors === "object" && !Array.isArray(errors)) {
    fieldErrors = {};
    for (const [field, list] of Object.entries(errors as Record<string, unknown>)) {
      const items = (Array.isArray(list) ? list : [list]).filter((x): x is string => typeof x === "string").map(clip);
      if (items.length) fieldErrors[field] = items;
    }
    if (Object.keys(fieldErrors).length === 0) fieldErrors = undefined;
  }
  return fieldErrors ? { messages, fieldErrors } : { messages };
}

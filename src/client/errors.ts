// The errors the clients throw: what an upstream did (UpstreamError) and what the caller sent wrong (InputError).

import type { ProviderName } from "../settings/providers.js";

/** The three upstreams, named as in configuration. */
export type Provider = ProviderName;

export type UpstreamErrorCode =
  | "not_configured" // no credentials for this provider
  | "auth_failed" // the token endpoint refused the client credentials
  | "unauthorized" // 401
  | "forbidden" // 403
  | "not_found" // 404
  | "rejected" // 400 / 409 / 422: the upstream refused the request's content
  | "rate_limited" // 429
  | "server_error" // 5xx
  | "upstream_error" // an error reported inside a 2xx body (2SMS envelope)
  | "http_error" // any other non-2xx status
  | "bad_response" // a body that is not JSON or not the expected shape
  | "too_large" // a body past the size cap
  | "timeout" // the tool call's deadline passed
  | "cancelled" // the MCP client cancelled the call
  | "network"; // connection refused, reset, DNS, TLS...

export interface RateLimitInfo {
  limit?: number;
  remaining?: number;
  intervalMs?: number;
  dailyLimit?: number;
  dailyRemaining?: number;
}

export interface UpstreamErrorInit {
  provider: Provider;
  code: UpstreamErrorCode;
  message: string;
  status?: number | undefined;
  upstreamMessages?: string[] | undefined;
  fieldErrors?: Record<string, string[]> | undefined;
  retryable?: boolean | undefined;
  retryAfterMs?: number | undefined;
  requestId?: string | undefined;
  method?: string | undefined;
  path?: string | undefined;
  attempts?: number | undefined;
  rateLimit?: RateLimitInfo | undefined;
  /** Whether the request may have reached the upstream (matters for writes that were not retried). */
  maybeApplied?: boolean | undefined;
  networkCode?: string | undefined;
}

/**
 * The one error type the clients throw. It carries what an agent needs to act
 * (status, the upstream's own words, whether and when to retry) and never a credential:
 * no headers are kept, and the message is built from status and body only.
 */
export class UpstreamError extends Error {
  readonly provider: Provider;
  readonly code: UpstreamErrorCode;
  readonly status: number | undefined;
  readonly upstreamMessages: string[];
  readonly fieldErrors: Record<string, string[]> | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly requestId: string | undefined;
  readonly method: string | undefined;
  readonly path: string | undefined;
  attempts: number;
  readonly rateLimit: RateLimitInfo | undefined;
  readonly maybeApplied: boolean;
  readonly networkCode: string | undefined;

  constructor(init: UpstreamErrorInit) {
    super(init.message);
    this.name = "UpstreamError";
    this.provider = init.provider;
    this.code = init.code;
    this.status = init.status;
    this.upstreamMessages = init.upstreamMessages ?? [];
    this.fieldErrors = init.fieldErrors;
    this.retryable = init.retryable ?? false;
    this.retryAfterMs = init.retryAfterMs;
    this.requestId = init.requestId;
    this.method = init.method;
    this.path = init.path;
    this.attempts = init.attempts ?? 1;
    this.rateLimit = init.rateLimit;
    this.maybeApplied = init.maybeApplied ?? false;
    this.networkCode = init.networkCode;
  }
}

/**
 * A refusal of the caller's input, found before any request is sent. The tool layer reports it
 * field by field; the clients throw it for values that must never reach a URL (path tricks in ids).
 */
export class InputError extends Error {
  constructor(readonly issues: Array<{ field: string; message: string }>) {
    super(issues.map((i) => `${i.field}: ${i.message}`).join("; "));
    this.name = "InputError";
  }
}

/**
 * Percent-encodes an id for one path segment, refusing ids that could change which resource is
 * addressed (slashes, dot segments, query or fragment marks, percent escapes) or that carry
 * whitespace or control characters.
 */
export function pathSegment(field: string, id: string): string {
  if (id === "") throw new InputError([{ field, message: "must not be empty" }]);
  if (id === "." || id === ".." || /[/?#%\\\s\p{Cc}\p{Cf}]/u.test(id)) {
    throw new InputError([
      { field, message: "must be a plain id: no slashes, dot segments, '?', '#', '%', whitespace or control characters" },
    ]);
  }
  return encodeURIComponent(id);
}

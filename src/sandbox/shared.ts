export interface HandlerRequest {
  method: string;
  path: string;
  /** The query string's parameters. */
  query: URLSearchParams;
  headers: Record<string, string>;
  body: string;
}

export interface HandlerResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export type ProviderHandler = (req: HandlerRequest) => HandlerResponse;

/** Credentials the sandbox accepts. They are public and worthless outside it. */
export const SANDBOX_CREDENTIALS = {
  leadpingToken: "sandbox-leadping-token",
  /** A token whose user has the older (2024) shape, with stripeInfo and accountBalance. */
  leadpingLegacyToken: "sandbox-leadping-legacy-token",
  leadconnectorToken: "pit-sandbox-leadconnector-token",
  /** A LeadConnector token with users.readonly only. */
  leadconnectorReadOnlyToken: "pit-sandbox-readonly-token",
  twosmsClientId: "sandbox-client",
  twosmsClientSecret: "sandbox-client-secret",
} as const;

/** A fixed-window counter per key, as the upstreams' rate limits behave closely enough for tests. */
export class RateLimiter {
  private windows = new Map<string, { start: number; count: number }>();
  constructor(
    public limit: number,
    readonly windowMs: number,
  ) {}
  /** Milliseconds until the window resets if over the limit, else undefined. */
  hit(key: string, now = Date.now()): { over: boolean; remaining: number; resetMs: number } {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    w.count += 1;
    const resetMs = this.windowMs - (now - w.start);
    return { over: w.count > this.limit, remaining: Math.max(0, this.limit - w.count), resetMs };
  }
  reset() {
    this.windows.clear();
  }
}

export function bearer(headers: Record<string, string>): string | undefined {
  const m = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? "");
  return m?.[1]?.trim();
}

export function parseJson(body: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch {
    return { ok: false };
  }
}

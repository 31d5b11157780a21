import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Gauge } from "../kernel/gauge.js";
import { MAX_BODY_BYTES } from "../kernel/limits.js";
import type { Logger } from "../kernel/log.js";
import type { Config } from "../settings/config.js";
import { refuse, reply, rpcError } from "./bridge.js";
import { type Grant, IssuerUnavailable, type OAuthResource, TokenRefused } from "./oauth.js";
import { callerCredentialProblem } from "./tenants.js";

/** A request's in-flight slot. */
export interface Slot {
  /** Waits without holding the slot (a person deciding is no work of the server's). */
  idle<T>(waiting: Promise<T>): Promise<T>;
}

/**
 * What a request to /mcp passes before it is served, each answering the request itself when it may not
 * go on: the Host and browser Origin (DNS rebinding), the static bearer token or an OAuth access token,
 * caller credential headers, drain, the method, the body (size and time limits, JSON), and admission
 * against the in-flight cap.
 */
export class RequestGuards {
  private readonly tokenDigest: Buffer | undefined;
  private readonly allowedHosts: Set<string>;
  private readonly allowedOrigins: Set<string>;

  /**
   * `active` counts the calls under way (the in-flight cap); `draining` says whether the server is
   * shutting down; `callerCredentials` whether requests carry their own upstream credentials.
   */
  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly active: Gauge,
    private readonly draining: () => boolean,
    private readonly callerCredentials: boolean,
  ) {
    const h = config.http;
    this.tokenDigest = h.token ? digest(h.token) : undefined;
    // The public URL's host is this server's own name: requests through it are no rebinding.
    this.allowedHosts = new Set(
      [...h.allowedHosts, ...(h.oauth ? [new URL(h.oauth.publicUrl).hostname] : [])].map((x) => x.replace(/^\[|\]$/g, "")),
    );
    this.allowedOrigins = new Set(h.allowedOrigins);
  }

  /**
   * The request's verified access token, or null once it has been answered: 401 for a refused token,
   * 503 when the issuer cannot check it. A check that must ask the issuer holds an in-flight slot while
   * it does (answers already known cost none), so a flood of new tokens cannot queue on the issuer.
   */
  async signedIn(oauth: OAuthResource, req: IncomingMessage, res: ServerResponse): Promise<Grant | null> {
    try {
      const known = oauth.known(req.headers.authorization);
      if (known instanceof TokenRefused) throw known;
      if (known) return known;
      if (!this.admitWeight(res, 1)) return null;
      try {
        return await oauth.verify(req.headers.authorization);
      } finally {
        this.active.remove(1);
      }
    } catch (err) {
      if (err instanceof IssuerUnavailable) {
        this.logger.warn("oauth: access tokens cannot be checked", { reason: err.description });
        res.setHeader("retry-after", "5");
        rpcError(res, 503, `Service unavailable: access tokens cannot be checked right now: ${err.description}. Retry shortly.`);
        return null;
      }
      if (!(err instanceof TokenRefused)) throw err;
      res.setHeader("www-authenticate", oauth.challenge(err));
      rpcError(
        res,
        401,
        err.sent
          ? `Unauthorized: ${err.description}. Sign in again to get a token for ${oauth.resource}.`
          : `Unauthorized: sign in with OAuth (the authorization server is named at ${oauth.metadataUrl}) and send Authorization: Bearer <access token>.`,
      );
      return null;
    }
  }

  /** Answers 403 to a Host (or a browser Origin) this server was not told it is called; false when it was. */
  wrongHost(req: IncomingMessage, res: ServerResponse): boolean {
    // DNS rebinding: a page on another site must not reach a server on this machine through a
    // name that resolves here, so the Host must be one this server was told it is called.
    if (!this.allowedHosts.has(hostnameOf(req.headers.host)))
      return refuse(res, 403, "Forbidden: this Host is not allowed (USERS_MCP_HTTP_ALLOWED_HOSTS)");
    // A browser page may call only from an origin the operator listed, or from this server's own
    // origin (same host and port as the Host just checked): a same-origin request is no rebinding.
    const origin = req.headers.origin?.toLowerCase();
    if (origin !== undefined && !this.allowedOrigins.has(origin) && !isOwnOrigin(origin, req.headers.host))
      return refuse(res, 403, "Forbidden: this Origin is not allowed (USERS_MCP_HTTP_ALLOWED_ORIGINS)");
    return false;
  }

  /** Answers a request that may not go further, and says so; false when it may. */
  refused(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.wrongHost(req, res)) return true;
    if (this.tokenDigest && !bearerMatches(req.headers.authorization, this.tokenDigest)) {
      res.setHeader("www-authenticate", 'Bearer realm="users-mcp"');
      return refuse(res, 401, "Unauthorized: send Authorization: Bearer <the server's USERS_MCP_HTTP_TOKEN>");
    }
    // Credentials that cannot be credentials are refused here, naming the header, before anything
    // uses them: never scrubbed out of other people's text.
    const problem = this.callerCredentials ? callerCredentialProblem(req.headers) : undefined;
    if (problem) return refuse(res, 400, `Bad credential header: ${problem}`);
    if (this.draining()) {
      res.setHeader("connection", "close");
      res.setHeader("retry-after", "5");
      return refuse(res, 503, "This server is shutting down; retry on another replica");
    }
    if (req.method !== "POST") {
      // Stateless: no session, so no stream to open (GET) and none to end (DELETE).
      res.setHeader("allow", "POST");
      return refuse(res, 405, "Method not allowed: this server is stateless; send JSON-RPC with POST");
    }
    return false;
  }

  /**
   * The JSON-RPC message, or undefined once the request has been answered. The body is read before an
   * in-flight slot is taken, under its own time limit: slow senders hold a socket each, never a slot.
   */
  async readMessage(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const h = this.config.http;
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return tooLarge(req, res);
    const body = await readBody(req, h.headersTimeoutMs);
    if (body === "too_large") return tooLarge(req, res);
    if (body === "too_slow") {
      res.setHeader("connection", "close");
      res.once("finish", () => req.destroy());
      return rpcError(res, 408, `Request body not received within ${h.headersTimeoutMs} ms`);
    }
    if (body === "aborted") return undefined;
    try {
      return JSON.parse(body);
    } catch {
      return reply(res, 400, { jsonrpc: "2.0", error: { code: -32700, message: "Parse error: the body is not JSON" }, id: null });
    }
  }

  /**
   * Takes an in-flight slot for every message of the request, or answers 503. A `subscriptions/listen`
   * stream takes none: it stays open and idle (the tool list never changes), and the SDK caps them.
   */
  admit(res: ServerResponse, message: unknown): Slot | undefined {
    if (!Array.isArray(message) && (message as { method?: unknown } | null)?.method === "subscriptions/listen") return { idle: (p) => p };
    const weight = Array.isArray(message) ? Math.max(1, message.length) : 1;
    if (!this.admitWeight(res, weight)) return undefined;
    let held = true;
    res.once("close", () => {
      if (held) this.active.remove(weight);
      held = false;
    });
    return {
      // While a person decides, the call gives its slot back; it takes it again (past the cap) to finish.
      idle: async (waiting) => {
        if (!held) return waiting;
        this.active.remove(weight);
        held = false;
        try {
          return await waiting;
        } finally {
          if (!res.destroyed && !res.writableEnded) {
            this.active.add(weight);
            held = true;
          }
        }
      },
    };
  }

  /** Takes `weight` in-flight slots (the caller gives them back), or answers 503 and takes none. */
  admitWeight(res: ServerResponse, weight: number): boolean {
    const max = this.config.http.maxInFlight;
    if (this.active.value + weight > max) {
      res.setHeader("retry-after", "1");
      refuse(
        res,
        503,
        weight > max
          ? `This batch holds ${weight} messages, more than the ${max} this server runs at once: send fewer per request`
          : `Too many requests in flight (${max}); retry shortly`,
      );
      return false;
    }
    this.active.add(weight);
    return true;
  }
}

/** How long a refused body is still read and discarded, so that the client can read the 413. */
const LINGER_MS = 2_000;
const LINGER_BYTES = 16 * 1024 * 1024;

/**
 * Answers 413 with `Connection: close`, then keeps reading and discarding what the client is still
 * sending for a short, bounded time (as nginx's lingering close does): closing at once would reset
 * the connection under a client that is still writing, and it would see a reset instead of the 413.
 */
function tooLarge(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader("connection", "close");
  const socket = req.socket;
  let discarded = 0;
  const stop = () => {
    clearTimeout(timer);
    req.off("data", onData);
    socket.destroy();
  };
  const onData = (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > LINGER_BYTES) stop();
  };
  const timer = setTimeout(stop, LINGER_MS);
  timer.unref();
  // Node ends a `Connection: close` response with destroySoon(), which closes the socket while the
  // client is still writing: the kernel answers what arrives next with a reset, and the client may
  // never read the 413. Here it only ends the write side (the server's sockets allow half-open), and
  // the rest of the body is read and dropped until it ends or the lingering time is up.
  socket.destroySoon = () => {
    socket.end();
  };
  req.on("data", onData);
  req.once("end", stop);
  req.resume();
  reply(res, 413, {
    jsonrpc: "2.0",
    error: { code: -32600, message: `Request body too large: at most ${MAX_BODY_BYTES / 1024 / 1024} MiB` },
    id: null,
  });
}

/**
 * The body as text; "too_large" once it passes MAX_BODY_BYTES (reading stops there), "too_slow" when
 * it has not all arrived within `timeoutMs`, "aborted" when the client went away.
 */
function readBody(req: IncomingMessage, timeoutMs: number): Promise<string | "too_large" | "too_slow" | "aborted"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: string | "too_large" | "too_slow" | "aborted") => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.pause();
        done("too_large");
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => done(Buffer.concat(chunks).toString("utf8"));
    const onError = () => done("aborted");
    const onClose = () => {
      if (!req.complete) done("aborted");
    };
    const timer = setTimeout(() => {
      req.pause();
      done("too_slow");
    }, timeoutMs);
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    req.once("close", onClose);
  });
}

/** The host name of a Host header, without port or IPv6 brackets, lower-cased. */
function hostnameOf(host: string | undefined): string {
  if (!host) return "";
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]") > 0 ? h.indexOf("]") : undefined);
  return h.replace(/:\d+$/, "");
}

function isOwnOrigin(origin: string, host: string | undefined): boolean {
  try {
    const o = new URL(origin);
    return (o.protocol === "http:" || o.protocol === "https:") && host !== undefined && o.host === host.trim().toLowerCase();
  } catch {
    return false;
  }
}

export const digest = (text: string) => createHash("sha256").update(text).digest();

/** Constant-time comparison of a presented bearer token with the configured one (through their digests). */
function bearerMatches(authorization: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return m !== null && timingSafeEqual(digest(m[1] as string), expected);
}

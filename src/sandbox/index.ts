import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Config } from "../settings/config.js";
import { COMPANY_ID, createLeadConnector } from "./leadconnector.js";
import { createLeadping } from "./leadping.js";
import { type HandlerResponse, SANDBOX_CREDENTIALS } from "./shared.js";
import { createTwoSms } from "./twosms.js";

export { SANDBOX_CREDENTIALS };

/**
 * A faithful stand-in for the three upstreams on one loopback port, for `--sandbox`, the demo
 * and the tests. Each upstream lives under its own path prefix (`/leadping`, `/leadconnector`,
 * `/2sms`) and behaves as the contracts say: auth, required headers, validation, error bodies,
 * rate limits, the 2SMS token endpoint and envelope. State lives in memory for the process's life.
 */

export type SandboxProvider = "leadping" | "leadconnector" | "twosms";

export interface RecordedRequest {
  provider: SandboxProvider;
  method: string;
  /** Path below the provider's prefix, without query, e.g. `/users/me`. */
  path: string;
  /** The query string as sent, without the `?` ("" when none). */
  query: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

/** A fault to inject: matched against the next requests, used `times` times (default 1). */
export interface Fault {
  provider: SandboxProvider;
  method?: string;
  /** Exact path below the prefix, or a RegExp. */
  path?: string | RegExp;
  times?: number;
  /** Wait this long before acting (a slow upstream). */
  delayMs?: number;
  /**
   * What to do: `respond` with status/headers/body; `reset` the connection before any response;
   * `hang` without answering until the client gives up; `partial` send headers and half a body,
   * then reset; `stall` send headers and never finish the body; `huge` a 50 MB body; `nonjson` an HTML page;
   * `pass` answer as usual (after `delayMs`: a slow upstream that works).
   */
  kind?: "respond" | "reset" | "hang" | "partial" | "stall" | "huge" | "nonjson" | "pass";
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface SandboxOptions {
  port?: number;
  /** Token lifetime the 2SMS stand-in grants, in seconds (default 28800, as documented). */
  twosmsTokenLifetimeSeconds?: number;
  /** Rate limits per window; tests lower them to provoke 429s. */
  leadpingRateLimit?: number;
  leadconnectorRateLimit?: number;
  /**
   * How long an idle keep-alive connection stays open (Node's default, 5 s, unless given). The benchmarks
   * raise it: a client slowed down by callgrind would otherwise reuse a connection the stand-in is closing.
   */
  keepAliveTimeoutMs?: number;
}

export interface Sandbox {
  url: string;
  baseUrls: Record<SandboxProvider, string>;
  requests: RecordedRequest[];
  /** Requests of one provider, optionally of one method. */
  requestsTo(provider: SandboxProvider, method?: string): RecordedRequest[];
  fault(f: Fault): void;
  clearFaults(): void;
  /** Forgets recorded requests and faults, and restores the seeded data. */
  reset(): void;
  /** Sockets currently open to the sandbox. */
  openConnections(): number;
  /** Requests whose connection the client closed before the sandbox answered. */
  abandoned: RecordedRequest[];
  state: {
    leadping: ReturnType<typeof createLeadping>;
    leadconnector: ReturnType<typeof createLeadConnector>;
    twosms: ReturnType<typeof createTwoSms>;
  };
  close(): Promise<void>;
}

const PREFIX: Record<string, SandboxProvider> = { leadping: "leadping", leadconnector: "leadconnector", "2sms": "twosms" };

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const state = {
    leadping: createLeadping({ rateLimit: options.leadpingRateLimit }),
    leadconnector: createLeadConnector({ rateLimit: options.leadconnectorRateLimit }),
    twosms: createTwoSms({ tokenLifetimeSeconds: options.twosmsTokenLifetimeSeconds }),
  };
  const requests: RecordedRequest[] = [];
  const abandoned: RecordedRequest[] = [];
  let faults: Fault[] = [];
  const sockets = new Set<Socket>();

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://sandbox");
    const [, prefix = "", ...rest] = url.pathname.split("/");
    const provider = PREFIX[prefix];
    const body = await readBody(req);
    if (!provider) {
      send(res, { status: 404, body: { message: `no upstream under /${prefix}; use /leadping, /leadconnector or /2sms` } });
      return;
    }
    const recorded = recordOf(req, url, provider, `/${rest.join("/")}`, body);
    const { path, headers } = recorded;
    requests.push(recorded);
    res.on("close", () => {
      if (!res.writableFinished) abandoned.push(recorded);
    });

    const fault = takeFault(faults, provider, recorded.method, path);
    if (fault) {
      if (fault.delayMs) await delay(fault.delayMs, res);
      if (res.destroyed) return;
      if (applyFault(fault, req, res)) return;
    }
    const handler = { leadping: state.leadping.handle, leadconnector: state.leadconnector.handle, twosms: state.twosms.handle }[provider];
    let out: HandlerResponse;
    try {
      out = handler({ method: recorded.method, path, query: url.searchParams, headers, body });
    } catch (err) {
      out = { status: 500, body: { message: `sandbox error: ${(err as Error).message}` } };
    }
    send(res, out);
  }

  if (options.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = options.keepAliveTimeoutMs;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    baseUrls: { leadping: `${url}/leadping`, leadconnector: `${url}/leadconnector`, twosms: `${url}/2sms` },
    requests,
    abandoned,
    requestsTo: (provider, method) => requests.filter((r) => r.provider === provider && (!method || r.method === method)),
    fault: (f) => {
      faults.push(f);
    },
    clearFaults: () => {
      faults = [];
    },
    reset() {
      requests.length = 0;
      abandoned.length = 0;
      faults = [];
      state.leadping.reset();
      state.leadconnector.reset();
      state.twosms.reset();
    },
    openConnections: () => sockets.size,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A request as tests see it afterwards: headers flattened, path below the provider's prefix. */
function recordOf(req: IncomingMessage, url: URL, provider: SandboxProvider, path: string, body: string): RecordedRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : (v ?? "");
  return { provider, method: req.method ?? "GET", path, query: url.search.replace(/^\?/, ""), headers, body, at: Date.now() };
}

/** The first fault that matches the request, used up once (removed when it has no uses left). */
function takeFault(faults: Fault[], provider: SandboxProvider, method: string, path: string): Fault | undefined {
  const i = faults.findIndex(
    (f) =>
      f.provider === provider &&
      (!f.method || f.method === method) &&
      (!f.path || (typeof f.path === "string" ? f.path === path : f.path.test(path))),
  );
  if (i < 0) return undefined;
  const f = faults[i] as Fault;
  const left = (f.times ?? 1) - 1;
  if (left <= 0) faults.splice(i, 1);
  else faults[i] = { ...f, times: left };
  return f;
}

function applyFault(f: Fault, _req: IncomingMessage, res: ServerResponse): boolean {
  switch (f.kind ?? "respond") {
    case "reset":
      res.socket?.destroy();
      return true;
    case "hang":
      return true;
    case "partial":
      res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
      res.write('{"id":"half');
      setTimeout(() => res.socket?.destroy(), 20);
      return true;
    case "stall":
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"id":');
      return true;
    case "huge": {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 50 && !res.destroyed) {
          sent += 1;
          if (!res.write(chunk)) {
            res.once("drain", pump);
            return;
          }
        }
        if (!res.destroyed) res.end();
      };
      pump();
      return true;
    }
    case "pass":
      return false;
    case "nonjson":
      res.writeHead(f.status ?? 200, { "content-type": "text/html" });
      res.end("<html><body><h1>Service temporarily unavailable</h1></body></html>");
      return true;
    default:
      send(res, { status: f.status ?? 500, headers: f.headers ?? {}, body: f.body });
      return true;
  }
}

let requestCounter = 0;

function send(res: ServerResponse, out: HandlerResponse) {
  if (res.destroyed) return;
  // The real upstreams tag responses with a request id; the audit log records it.
  const headers: Record<string, string> = { "x-request-id": `sbx-${(++requestCounter).toString(36)}`, ...out.headers };
  let payload = "";
  if (out.body !== undefined) {
    payload = typeof out.body === "string" ? out.body : JSON.stringify(out.body);
    headers["content-type"] ??= "application/json; charset=utf-8";
  }
  res.writeHead(out.status, headers);
  res.end(payload);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

function delay(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    res.once("close", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** The configuration with all three providers pointed at a running sandbox and given its credentials. */
export function sandboxConfig(config: Config, sandbox: Pick<Sandbox, "baseUrls">): Config {
  const c = SANDBOX_CREDENTIALS;
  return {
    ...config,
    sandbox: true,
    leadping: { baseUrl: sandbox.baseUrls.leadping, token: c.leadpingToken },
    leadconnector: {
      ...config.leadconnector,
      baseUrl: sandbox.baseUrls.leadconnector,
      token: c.leadconnectorToken,
      // search_users needs a company: the sandbox's own, unless one was configured.
      companyId: config.leadconnector.companyId ?? COMPANY_ID,
    },
    twosms: { baseUrl: sandbox.baseUrls.twosms, clientId: c.twosmsClientId, clientSecret: c.twosmsClientSecret, accessToken: undefined },
  };
}

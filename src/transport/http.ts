import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server as NodeHttpServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  classifyInboundRequest,
  createMcpHandler,
  type McpHttpHandler,
  type McpRequestContext,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import { type Clients, createClients } from "../client/index.js";
import { Gauge } from "../kernel/gauge.js";
import { MAX_BODY_BYTES } from "../kernel/limits.js";
import type { Logger } from "../kernel/log.js";
import type { HostAnswer } from "../mcp/answers.js";
import { keepReservedKeys } from "../mcp/arguments.js";
import { type QuestionChannel, whyCannotAsk } from "../mcp/confirmers.js";
import { createRuntime, type Runtime, type RuntimeState } from "../mcp/runtime.js";
import { createServer, type LegacyHttp } from "../mcp/server.js";
import { type Config, ConfigError, isLoopbackHost } from "../settings/config.js";
import { isConfigured, PROVIDER_NAMES } from "../settings/providers.js";
import { headerOf, reply, rpcError, sendResponse, webRequest } from "./bridge.js";
import { RequestGuards, type Slot } from "./guards.js";
import { type Grant, OAuthResource, READ_SCOPE, WRITE_SCOPE } from "./oauth.js";
import { grantAllowsMessage, grantAllowsTool } from "./scopes.js";
import { issueSession, readSession } from "./session.js";
import { TenantClients } from "./tenants.js";

/**
 * The remote mode: MCP Streamable HTTP at /mcp, stateless, so any replica can answer any request and
 * replicas can come and go behind a load balancer. Each POST gets a fresh MCP server over the SDK's
 * own transports; what must outlive a request (tool definitions, the preview key, the audit log,
 * upstream connection pools and token caches) is shared by the process.
 *
 * Both protocol generations are served. MCP 2026-07-28 (each request carries its version in `_meta`)
 * goes to the SDK's per-request handler, which also answers `server/discover` and holds
 * `subscriptions/listen` streams; a person confirms a write through a Multi Round-Trip Request whose
 * sealed state any replica sharing USERS_MCP_PREVIEW_KEY can finish. MCP 2025 (`initialize`) is
 * served statelessly too: the session id given at initialize carries what the host declared (no state
 * is kept), and a host that declared form elicitation is asked with `elicitation/create` on the event
 * stream of its own `tools/call` POST; its answer, POSTed to /mcp, is taken by any replica (same
 * process directly, others through PostgreSQL).
 */

/** Settings that make --http unsafe or unusable: listed at start-up, before anything listens. */
export function httpConfigProblems(config: Config): string[] {
  const problems: string[] = [];
  const h = config.http;
  const issuer = config.sources.USERS_MCP_OAUTH_ISSUER !== undefined;
  const publicUrl = config.sources.USERS_MCP_PUBLIC_URL !== undefined;
  if (issuer !== publicUrl)
    problems.push(
      `${issuer ? "USERS_MCP_OAUTH_ISSUER is set without USERS_MCP_PUBLIC_URL" : "USERS_MCP_PUBLIC_URL is set without USERS_MCP_OAUTH_ISSUER"}: OAuth needs both, the issuer whose tokens to accept and this server's public URL (the resource the tokens must name)`,
    );
  if (h.oauth && h.token)
    problems.push(
      "both USERS_MCP_OAUTH_ISSUER and USERS_MCP_HTTP_TOKEN are set: choose one way to sign callers in (OAuth for Claude and ChatGPT connectors, the static token for hosts that send a header)",
    );
  if ((config.sources.USERS_MCP_OAUTH_CLIENT_ID !== undefined) !== (config.sources.USERS_MCP_OAUTH_CLIENT_SECRET !== undefined))
    problems.push(
      "USERS_MCP_OAUTH_CLIENT_ID and USERS_MCP_OAUTH_CLIENT_SECRET go together (introspection of opaque tokens): set both or neither",
    );
  if (h.credentials === "server" && !h.token && !h.oauth) {
    if (!config.sandbox)
      problems.push(
        "USERS_MCP_HTTP_TOKEN is required with --http (or OAuth: USERS_MCP_OAUTH_ISSUER with USERS_MCP_PUBLIC_URL): every request must carry Authorization: Bearer <token>, or anyone who can reach the port can use this server's upstream credentials. Set it (for example: openssl rand -hex 32), or use --sandbox for a local trial",
      );
    else if (!isLoopbackHost(h.host))
      problems.push(`--host ${h.host} goes beyond this machine, and no USERS_MCP_HTTP_TOKEN is set: set one, or listen on 127.0.0.1`);
  }
  return problems;
}

export interface HttpHandle {
  url: string;
  server: NodeHttpServer;
  /** Stops accepting, lets calls under way finish (up to the grace period), then closes. */
  drain(why: string): Promise<void>;
}

/** What one request's log line says, filled in as the request is understood. */
interface Seen {
  method?: string | undefined;
  /** The protocol version the request speaks (its `_meta`, its header, or its `initialize`). */
  protocol?: string | undefined;
  tool?: string | undefined;
  tenant?: string | undefined;
}

/**
 * The /mcp endpoint and its neighbours (/healthz, /readyz): each request passes the guards (host,
 * origin, token, credential headers, drain, method), has its body read, is admitted against the
 * in-flight cap, and is answered by a fresh MCP server over the SDK's transport.
 */
class Endpoint {
  draining = false;
  /** Calls under way, counting every message of a batch. */
  readonly active = new Gauge();
  readonly stopping = new AbortController();
  readonly runtime: Runtime;
  readonly tenants: TenantClients | undefined;
  readonly serverClients: Clients | undefined;
  /** The SDK's MCP 2026-07-28 handler: per-request servers, `server/discover`, `subscriptions/listen`. */
  readonly modern: McpHttpHandler;
  /** Each web request's caller (clients, tenant, who signed in), for the server factory the SDK calls with that request. */
  private readonly callers = new WeakMap<Request, Caller>();
  /** OAuth 2.1 resource server (USERS_MCP_OAUTH_ISSUER), instead of the static token. */
  readonly oauth: OAuthResource | undefined;
  /** Host and Origin, sign-in, credential headers, drain, method, body and admission. */
  private readonly guards: RequestGuards;
  private readonly configured: boolean;
  /** The database problem /readyz last saw (logged once when it begins, not at every probe). */
  private databaseProblem: string | undefined;

  constructor(
    readonly config: Config,
    readonly logger: Logger,
  ) {
    const h = config.http;
    this.runtime = createRuntime(config, logger);
    this.tenants = h.credentials === "caller" ? new TenantClients(config) : undefined;
    this.serverClients = this.tenants ? undefined : createClients(config);
    this.oauth = h.oauth ? new OAuthResource(h.oauth) : undefined;
    this.guards = new RequestGuards(config, logger, this.active, () => this.draining, this.tenants !== undefined);
    this.configured = config.sandbox || h.credentials === "caller" || PROVIDER_NAMES.some((p) => isConfigured(config, p));
    this.modern = createMcpHandler((ctx) => this.serverFor(ctx.requestInfo), {
      legacy: "reject",
      maxRequestBodySize: MAX_BODY_BYTES,
      onerror: (err) => logger.debug(`mcp: ${err.message}`),
    });
  }

  /** A fresh MCP server for one web request, with that request's caller clients. */
  private serverFor(request: McpRequestContext["requestInfo"]) {
    const caller = (request && this.callers.get(request)) ?? {
      clients: this.serverClients as Clients,
      tenant: undefined,
      actor: undefined,
      allows: undefined,
    };
    return this.serverOf(caller);
  }

  /** The MCP server for one caller; a 2025 call adds the channel its questions go out on. */
  private serverOf(caller: Caller, legacyHttp?: LegacyHttp) {
    return createServer({
      runtime: this.runtime,
      clients: caller.clients,
      shutdown: this.stopping.signal,
      tenant: caller.tenant,
      actor: caller.actor,
      allows: caller.allows,
      legacyHttp,
    });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seen = this.logRequest(req, res);
    const path = (req.url ?? "/").split("?")[0];
    if ((path === "/healthz" || path === "/readyz") && !this.guards.wrongHost(req, res)) return this.health(path, res);
    if (this.oauth && (path === "/.well-known/oauth-protected-resource/mcp" || path === "/.well-known/oauth-protected-resource")) {
      res.setHeader("cache-control", "public, max-age=300");
      return reply(res, 200, this.oauth.metadata());
    }
    if (path !== "/mcp") return reply(res, 404, { error: "not found: the MCP endpoint is /mcp" });
    if (this.guards.refused(req, res)) return;
    const grant = this.oauth ? await this.guards.signedIn(this.oauth, req, res) : undefined;
    if (grant === null) return;
    const message = await this.guards.readMessage(req, res);
    if (message === undefined) return;
    if (grant && this.oauth && !grantAllowsMessage(grant, message)) {
      res.setHeader("www-authenticate", this.oauth.challenge("insufficient_scope"));
      return rpcError(
        res,
        403,
        `Forbidden: this access token lacks the scope for this call: the write tools need ${WRITE_SCOPE}, the read tools ${READ_SCOPE}. Nothing was sent upstream. Sign in again granting ${WRITE_SCOPE}.`,
      );
    }
    if (isAnswer(message)) return this.answer(req, res, message, seen, grant);
    const slot = this.guards.admit(res, message);
    if (!slot) return;
    await this.dispatch(req, res, message, seen, slot, grant);
  }

  /**
   * A host's answer to a question of the server's (a JSON-RPC response): handed to the call waiting for
   * it, on this replica or another. It takes no in-flight slot: the call it answers holds the work.
   */
  private async answer(req: IncomingMessage, res: ServerResponse, message: RpcAnswer, seen: Seen, grant?: Grant): Promise<void> {
    seen.method = "answer";
    let tenant: string | undefined;
    if (this.tenants) {
      const caller = this.tenants.forRequest(req.headers);
      tenant = caller.tenant;
      void caller.clients.close();
    }
    seen.tenant = tenant;
    const state = await this.runtime.state();
    let states: Awaited<ReturnType<RuntimeState["keys"]>>["confirmStates"];
    try {
      states = (await state.keys()).confirmStates;
    } catch (err) {
      res.setHeader("retry-after", "5");
      return rpcError(res, 503, `Service unavailable: the answer cannot be checked right now (${(err as Error).message})`);
    }
    const problem = await state.questions.deliver(states, message.id, { tenant, actor: grant?.actor }, hostAnswer(message));
    if (problem) return reply(res, 400, { jsonrpc: "2.0", error: { code: -32600, message: `Refused: ${problem}.` }, id: null });
    res.writeHead(202).end();
  }

  /**
   * /healthz (the process is alive) and /readyz (it should get traffic), after the Host check. The body
   * names the state in a few words; what the database driver said goes to the log, not to whoever asks.
   */
  private health(path: string, res: ServerResponse): void {
    if (path === "/healthz") reply(res, 200, { status: "ok" });
    else if (this.draining) reply(res, 503, { status: "draining" });
    else if (!this.configured) reply(res, 503, { status: "not configured: no provider has credentials" });
    else {
      // Reads are still served while the database is down: ready, but degraded (writes are refused).
      const down = this.runtime.loaded?.database?.unavailable;
      if (down !== this.databaseProblem) {
        if (down) this.logger.warn("readiness: degraded, the database is unreachable", { reason: down });
        this.databaseProblem = down;
      }
      reply(
        res,
        200,
        down ? { status: "degraded: database unreachable", writes: "refused until the database is back" } : { status: "ready" },
      );
    }
  }

  /** Gives the request an id and logs one line for it when it ends (level info). */
  private logRequest(req: IncomingMessage, res: ServerResponse): Seen {
    const started = performance.now();
    const given = req.headers["x-request-id"];
    const requestId = typeof given === "string" && /^[\w.:-]{1,100}$/.test(given) ? given : randomUUID();
    res.setHeader("x-request-id", requestId);
    const seen: Seen = {};
    res.once("close", () => {
      // Through the logger like every other line: its level decides, and it redacts.
      this.logger.info("request", {
        time: new Date().toISOString(),
        requestId,
        http: `${req.method} ${(req.url ?? "").split("?")[0]}`,
        ...(seen.method ? { method: seen.method } : {}),
        ...(seen.protocol ? { protocol: seen.protocol } : {}),
        ...(seen.tool ? { tool: seen.tool } : {}),
        ...(seen.tenant ? { tenant: seen.tenant } : {}),
        status: res.statusCode,
        ms: Math.round((performance.now() - started) * 10) / 10,
      });
    });
    return seen;
  }

  /**
   * Serves the message: MCP 2026-07-28 through the SDK's per-request handler, MCP 2025 through a
   * fresh server over the SDK's stateless transport with JSON responses, each with this request's clients.
   */
  private async dispatch(req: IncomingMessage, res: ServerResponse, parsed: unknown, seen: Seen, slot: Slot, grant?: Grant): Promise<void> {
    const message = keepReservedKeys(parsed);
    const first = (Array.isArray(message) ? message[0] : message) as
      | { method?: unknown; params?: { name?: unknown; protocolVersion?: unknown } }
      | undefined;
    if (typeof first?.method === "string") seen.method = first.method;
    if (seen.method === "tools/call" && typeof first?.params?.name === "string") seen.tool = first.params.name.slice(0, 64);
    const caller: Caller = {
      ...(this.tenants ? this.tenants.forRequest(req.headers) : { clients: this.serverClients as Clients, tenant: undefined }),
      actor: grant?.actor,
      allows: grant ? (tool: string) => grantAllowsTool(grant, tool) : undefined,
    };
    seen.tenant = caller.tenant;
    const route = classifyInboundRequest({
      httpMethod: "POST",
      protocolVersionHeader: headerOf(req, "mcp-protocol-version"),
      mcpMethodHeader: headerOf(req, "mcp-method"),
      mcpNameHeader: headerOf(req, "mcp-name"),
      body: message,
    });
    seen.protocol =
      route.kind === "modern"
        ? route.classification.revision
        : seen.method === "initialize" && typeof first?.params?.protocolVersion === "string"
          ? first.params.protocolVersion.slice(0, 32)
          : headerOf(req, "mcp-protocol-version")?.slice(0, 32);
    const gone = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) gone.abort();
      if (this.tenants) void caller.clients.close(); // ends this request's use of the caller's clients
    });
    const request = webRequest(req, gone.signal);
    let response: Response;
    if (route.kind === "legacy") {
      response = await this.legacy(req, res, request, message, seen, caller, slot);
    } else {
      this.callers.set(request, caller);
      response = await this.modern.fetch(request, { parsedBody: message });
    }
    await sendResponse(res, response);
  }

  /**
   * MCP 2025: a fresh server over the SDK's stateless transport. A call from a host that declared form
   * elicitation (its session id says so) is answered on an event stream, which can carry a question
   * first; anything else gets JSON. An initialize is answered with the session id that says what it declared.
   */
  private async legacy(
    req: IncomingMessage,
    res: ServerResponse,
    request: Request,
    message: unknown,
    seen: Seen,
    caller: Caller,
    slot: Slot,
  ): Promise<Response> {
    const initialize = seen.method === "initialize";
    const declared = initialize ? undefined : readSession(headerOf(req, "mcp-session-id"));
    const asks = declared !== undefined && whyCannotAsk(declared.capabilities) === undefined && hasToolCall(message);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: !asks });
    const channel: QuestionChannel = {
      send: (m, relatedTo) => transport.send(m, { relatedRequestId: relatedTo }),
      idle: (waiting) => slot.idle(waiting),
    };
    const server = this.serverOf(caller, { declared, channel });
    res.once("close", () => {
      void transport.close();
      void server.close();
    });
    // A stream waiting on a person is quiet for up to USERS_MCP_CONFIRM_TIMEOUT_MS: not an idle socket.
    if (asks) req.socket.setTimeout(this.config.confirm.timeoutMs + 2 * this.config.timeoutMs + 10_000);
    await server.connect(transport); // the message's reserved keys were kept above
    const response = await transport.handleRequest(request, { parsedBody: message });
    if (!initialize || !response.ok) return response;
    const first = (Array.isArray(message) ? message[0] : message) as { params?: unknown };
    const headers = new Headers(response.headers);
    headers.set("mcp-session-id", issueSession(first.params));
    return new Response(response.body, { status: response.status, headers });
  }
}

/** A JSON-RPC response POSTed by the host: the answer to a request of the server's. */
interface RpcAnswer {
  id: unknown;
  result?: unknown;
  error?: unknown;
}

function isAnswer(message: unknown): message is RpcAnswer {
  if (!message || typeof message !== "object" || Array.isArray(message)) return false;
  const m = message as Record<string, unknown>;
  return m.method === undefined && "id" in m && ("result" in m || "error" in m);
}

/** The part of an elicitation answer that counts (the action, and the one field of the form), and nothing more. */
function hostAnswer(message: RpcAnswer): HostAnswer {
  if (message.error !== undefined || !message.result || typeof message.result !== "object") return "error";
  const { action, content } = message.result as { action?: unknown; content?: unknown };
  const confirm = content && typeof content === "object" ? (content as { confirm?: unknown }).confirm : undefined;
  return {
    action: typeof action === "string" ? action.slice(0, 16) : undefined,
    content: content && typeof content === "object" ? { confirm: typeof confirm === "object" ? "not a yes/no" : confirm } : undefined,
  };
}

const hasToolCall = (message: unknown) =>
  (Array.isArray(message) ? message : [message]).some((m) => (m as { method?: unknown } | null)?.method === "tools/call");

/** Who a request is for: its upstream clients, its tenant (caller credentials), who signed in (OAuth). */
interface Caller {
  clients: Clients;
  tenant: string | undefined;
  actor: Grant["actor"] | undefined;
  /** Which tools the caller's token allows (OAuth): tools/list shows only those. */
  allows: ((tool: string) => boolean) | undefined;
}

export async function serveHttp(config: Config, logger: Logger): Promise<HttpHandle> {
  const problems = httpConfigProblems(config);
  if (problems.length) throw new ConfigError(problems);
  const h = config.http;
  const endpoint = new Endpoint(config, logger);
  // Writes a crash left in doubt are settled in the background (with the server's own credentials; each
  // caller's own credentials are not known at start, so then `users-mcp audit --reconcile` does it).
  const own = endpoint.serverClients;
  await endpoint.runtime.start(own ? () => own : undefined);
  const httpServer = createHttpServer({ connectionsCheckingInterval: Math.min(1_000, h.headersTimeoutMs) }, (req, res) => {
    endpoint.handle(req, res).catch((err: unknown) => {
      logger.error("http: request failed", { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      if (!res.headersSent) rpcError(res, 500, "Internal error in users-mcp; the server keeps running");
      else res.destroy();
    });
  });
  // Slow clients: headers must arrive within USERS_MCP_HTTP_HEADERS_TIMEOUT_MS (10 s) and the whole
  // request within 30 s; an idle connection is closed after a call's longest possible run (queue
  // wait plus its deadline).
  httpServer.headersTimeout = h.headersTimeoutMs;
  httpServer.requestTimeout = Math.max(30_000, h.headersTimeoutMs);
  httpServer.keepAliveTimeout = 5_000;
  httpServer.setTimeout(2 * config.timeoutMs + 10_000);

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(h.port, h.host, () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const address = httpServer.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let drained: Promise<void> | undefined;
  const drain = (why: string): Promise<void> => {
    drained ??= drainEndpoint(endpoint, httpServer, why);
    return drained;
  };
  return { url: `http://${host}:${address.port}/mcp`, server: httpServer, drain };
}

/**
 * New MCP requests get 503 and /readyz turns 503 at once, while the port stays open so that probes and
 * load balancers see it; calls under way get the grace period to finish, then are stopped and answer.
 */
async function drainEndpoint(endpoint: Endpoint, httpServer: NodeHttpServer, why: string): Promise<void> {
  const { graceMs } = endpoint.config.http;
  endpoint.draining = true;
  endpoint.logger.info(`draining (${why}): not accepting new requests; ${endpoint.active.value} under way get up to ${graceMs} ms`);
  const until = Date.now() + graceMs;
  await endpoint.active.idle(graceMs);
  await endpoint.runtime.busy.idle(Math.max(0, until - Date.now()));
  // Past the grace period, calls still running are stopped and answer with an error.
  endpoint.stopping.abort();
  await endpoint.runtime.busy.idle(1_000);
  await endpoint.modern.close().catch(() => {}); // ends the open subscriptions/listen streams
  const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
  httpServer.closeAllConnections();
  await closed;
  await Promise.allSettled([endpoint.serverClients?.close(), endpoint.tenants?.close(), endpoint.runtime.close()]);
}

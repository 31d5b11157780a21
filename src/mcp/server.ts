import {
  type CallToolResult,
  type ClientCapabilities,
  type InputRequiredResult,
  inputRequired,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  Server,
  type ServerContext,
  type Tool,
} from "@modelcontextprotocol/server";
import { DatabaseUnavailable } from "../audit/database.js";
import type { Actor } from "../audit/log.js";
import type { CallContext } from "../client/call-context.js";
import { InputError, UpstreamError } from "../client/errors.js";
import type { Clients } from "../client/index.js";
import { parsesAsIs } from "../kernel/as-is.js";
import { cleanOutput, redact, stripInvisible } from "../kernel/redact.js";
import { RefusalError } from "../kernel/refusal.js";
import { VERSION } from "../kernel/version.js";
import type { Config } from "../settings/config.js";
import type { ToolDefinition, ToolDeps, WriteToolDeps } from "../tools/define.js";
import { type Confirmer, cannotAsk, PendingQuestion } from "../writes/confirm.js";
import type { ConfirmStates } from "../writes/confirm-state.js";
import type { NamedRecord, WriteServices } from "../writes/pipeline.js";
import { checkArgumentShape } from "./arguments.js";
import {
  type Caller,
  CONFIRM_SCHEMA,
  NO_SESSION_2025_HTTP,
  pushConfirmer,
  type QuestionChannel,
  roundsConfirmer,
  streamConfirmer,
  whyCannotAsk,
} from "./confirmers.js";
import { describeError, describeIssues } from "./explain.js";
import { LazyJsonSchemaValidator } from "./lazy-validator.js";
import type { Catalog, Runtime } from "./runtime.js";
import { declaresUi, RECORD_META, readViews, VIEWS_RESOURCE, withViews } from "./views.js";

export interface ServerDeps {
  /** What the process holds for every server it makes (the HTTP mode makes one per request). */
  runtime: Runtime;
  /** The upstream clients of this server's caller. */
  clients: Clients;
  /** Aborted when the process is shutting down: in-flight calls stop and answer instead of being cut off. */
  shutdown?: AbortSignal;
  /** The caller's tenant (a hash of its credentials), recorded with its writes in caller-credentials mode. */
  tenant?: string | undefined;
  /** Who signed in (OAuth), recorded with every write of theirs. */
  actor?: Actor | undefined;
  /**
   * MCP 2025 over stateless HTTP: what the host declared at initialize (carried in the session id this
   * server gave it) and the call's event stream. Without it (stdio) a 2025 host is asked over its connection.
   */
  legacyHttp?: LegacyHttp | undefined;
  /**
   * Which tools the caller may use (OAuth scopes): tools/list shows only those, as if the rest did not
   * exist, and a call to another is refused. Undefined: every tool this configuration exposes.
   */
  allows?: ((tool: string) => boolean) | undefined;
}

/** A 2025 HTTP call: what its host declared at initialize (undefined: sent without the session id) and its stream. */
export interface LegacyHttp {
  declared: { capabilities: ClientCapabilities; client: WriteServices["client"] } | undefined;
  channel: QuestionChannel;
}

const INSTRUCTIONS = [
  "users-mcp reads and changes user accounts on three platforms: Leadping (get_current_user, update_compliance),",
  "LeadConnector/HighLevel (search_users, get_user, update_user) and 2SMS (get_gdpr_user, update_gdpr). Look",
  "before you write: find the person and read their record first. Every write tool reads the current record,",
  "changes only the fields you pass, reports each changed field before and after, and accepts dryRun: true to",
  "preview (its previewToken makes the write refuse if the record moved). Writes touch consent, compliance and",
  "GDPR records of real people; sensitive ones may ask the person to confirm. If a person declines, do not retry.",
  "list_writes shows what was changed through this server; revert_write undoes one write by its auditId.",
].join(" ");

/** How long a client may keep the tool list and the discover result: the list changes only with the server's settings. */
const LIST_CACHE = { ttlMs: 300_000, cacheScope: "public" } as const;
const PRIVATE_LIST_CACHE = { ttlMs: 300_000, cacheScope: "private" } as const;

/**
 * Builds the MCP server with the tools this configuration allows: one instance per stdio connection
 * (or per discover probe) and one per HTTP request. The same instance serves MCP 2026-07-28 (every
 * request carries its protocol version, client and capabilities in `_meta`) and 2025 (negotiated at
 * `initialize`); the SDK answers `server/discover`, `subscriptions/listen` and the cache fields.
 *
 * This uses the SDK's low-level `Server` rather than `McpServer`: McpServer validates arguments itself and
 * answers with zod's raw messages, while agents need each refusal to name its field and say what to send
 * (including the reason for fields refused on purpose), and one place must turn every error into a result.
 */
export function createServer({ runtime, clients, shutdown, tenant, actor, legacyHttp, allows }: ServerDeps): Server {
  const { logger } = runtime;
  // Ajv (to check elicitation answers) loads when the first confirmation is asked, not at start-up.
  const validator = new LazyJsonSchemaValidator();
  const server = new Server(
    { name: "users-mcp", title: "Users (Leadping, LeadConnector, 2SMS)", version: VERSION },
    {
      // resources: the views' document, listed and read only for hosts that declare MCP Apps (./views.ts).
      capabilities: { tools: { listChanged: false }, resources: {} },
      instructions: INSTRUCTIONS,
      jsonSchemaValidator: validator,
      // A list filtered by the caller's scopes is that caller's: no shared cache may hand it to another.
      cacheHints: allows
        ? { "tools/list": PRIVATE_LIST_CACHE, "server/discover": LIST_CACHE }
        : { "tools/list": LIST_CACHE, "server/discover": LIST_CACHE },
      // A confirmation over 2025 stdio is asked as a request of the server's (personFor), not through the SDK's shim.
      inputRequired: { legacyShim: false },
    },
  );
  server.oninitialized = () => logger.debug(`protocol ${server.getNegotiatedProtocolVersion()} (initialize)`);
  const showsViews = (ctx: ServerContext) => declaresUi(capabilitiesOf(server, ctx, legacyHttp));
  serveListings(server, runtime.catalog, allows, showsViews);

  const call: CallScope = { runtime, clients, shutdown, tenant, actor, legacyHttp, allows, server, validator, showsViews };
  server.setRequestHandler("tools/call", (request, extra) => callTool(call, request.params, extra));

  return server;
}

/** What a tool call needs of the server that received it. */
interface CallScope extends Omit<ServerDeps, "shutdown"> {
  shutdown: AbortSignal | undefined;
  server: Server;
  validator: LazyJsonSchemaValidator;
  /** The client of this request declared MCP Apps. */
  showsViews(ctx: ServerContext): boolean;
}

/**
 * tools/call, step by step: find the tool (an unknown one is a protocol error), check the arguments,
 * run the handler under the call's deadline, and turn what came back, or what was thrown, into a result.
 */
async function callTool(
  call: CallScope,
  params: { name: string; arguments?: Record<string, unknown> | undefined },
  extra: ServerContext,
): Promise<CallToolResult | InputRequiredResult> {
  const { runtime } = call;
  if (call.allows && !call.allows(params.name))
    return errorResult(
      `${stripInvisible(params.name).slice(0, 100)} is not allowed with this sign-in's scopes: sign in again granting users:write. Nothing was sent upstream.`,
    );
  const tool = findTool(params.name, await runtime.catalog(), runtime.config);
  const started = Date.now();
  const ctx = runtime.calls.start(runtime.config.timeoutMs, extra.mcpReq.signal, call.shutdown);
  runtime.busy.add();
  try {
    const input = checkArguments(tool, params.arguments ?? {});
    let record: NamedRecord | undefined; // the record a write applies to, for a host's review view
    const handled: unknown = await tool.handler(input, ctx, await toolDeps(call, tool, extra, (r) => (record = r)));
    if (handled instanceof PendingQuestion) {
      runtime.logger.info(`${tool.name}: asking the person to confirm`, { ms: Date.now() - started });
      return askAndComeBack(handled);
    }
    const output = cleanOutput(handled, ctx.secrets);
    runtime.logger.info(`${tool.name}: ok`, { ms: Date.now() - started });
    return successResult(output, runtime.config, record && call.showsViews(extra) ? record : undefined);
  } catch (err) {
    logFailure(runtime.logger, tool.name, err, Date.now() - started, (text) => ctx.scrub(text));
    return failureResult(err, tool, call, ctx);
  } finally {
    ctx.dispose();
    runtime.busy.remove();
  }
}

/**
 * The tool this call names, among those this configuration serves. A name that is not served is a
 * protocol error (JSON-RPC -32602, as the specification has it for an unknown tool); its message names
 * the tools there are, and why a known one is hidden.
 */
function findTool(name: string, { all, tools, byName }: Catalog, config: Config): ToolDefinition {
  const tool = byName.get(name);
  if (tool) return tool;
  throw new ProtocolError(ProtocolErrorCode.InvalidParams, unavailableTool(name, tools, all, config));
}

/** The handler's input: the argument shape checked, fields refused on purpose named, the schema applied. */
function checkArguments(tool: ToolDefinition, args: Record<string, unknown>): unknown {
  const shapeError = checkArgumentShape(args);
  if (shapeError) throw shapeError;
  const reasons = tool.refusedFields;
  if (reasons) {
    const refused = Object.keys(args)
      .filter((k) => Object.hasOwn(reasons, k))
      .map((k) => ({ field: k, message: reasons[k] ?? "" }));
    if (refused.length) throw new InputError(refused);
  }
  if (parsesAsIs(tool.input, args)) return args; // arguments that already are what the schema describes need no copy
  const parsed = tool.input.safeParse(args);
  if (!parsed.success) throw describeIssues(tool.name, tool.input, parsed.error.issues, args);
  return parsed.data;
}

/** What the handler is given: every tool the same object; a tool of kind write also the write path's services. */
async function toolDeps(
  call: CallScope,
  tool: ToolDefinition,
  extra: ServerContext,
  named: (r: NamedRecord) => void,
): Promise<ToolDeps | WriteToolDeps> {
  const { runtime, clients, tenant, actor, server, validator, legacyHttp } = call;
  const { config, logger } = runtime;
  const deps: ToolDeps = { config, clients, logger, history: runtime.history, tenant, actor };
  if (tool.kind === "read") return deps;
  const { previews, confirmStates } = await keysOrRefusal(runtime);
  const writes: WriteServices = {
    previews,
    audit: runtime.audit,
    queues: runtime.queues,
    confirmer: confirmerFor(server, extra, { runtime, states: confirmStates, validator, caller: { tenant, actor }, legacyHttp }),
    client: clientOf(server, extra) ?? legacyHttp?.declared?.client,
    named,
  };
  return { ...deps, writes };
}

/**
 * A result: the output as structured content and as compact JSON text (hosts that pass text on pay per byte);
 * for a host with views, the record a write applies to in `_meta`.
 */
function successResult(output: unknown, config: Config, record: NamedRecord | undefined): CallToolResult {
  const content: CallToolResult["content"] = [{ type: "text", text: JSON.stringify(output) }];
  if (config.sandbox) content.push({ type: "text", text: SANDBOX_NOTE });
  const meta = { ...(config.sandbox ? { "users-mcp/sandbox": true } : {}), ...(record ? { [RECORD_META]: record } : {}) };
  return { content, structuredContent: output as Record<string, unknown>, ...(Object.keys(meta).length ? { _meta: meta } : {}) };
}

/** What a failed call answers: in words an agent can act on, and no secret in them. */
function failureResult(err: unknown, tool: ToolDefinition, call: CallScope, ctx: CallContext): CallToolResult {
  const { sandbox } = call.runtime.config;
  if (call.shutdown?.aborted && err instanceof UpstreamError && err.code === "cancelled") {
    return errorResult(
      `The server is shutting down, so ${tool.name} was stopped before it finished. ${err.maybeApplied ? "The write may or may not have been applied: read the record again after the server restarts." : "Nothing was written."}`,
      sandbox,
    );
  }
  return errorResult(describeError(err, tool, call.runtime.config), sandbox, ctx);
}

/** The person behind the host, as this request's protocol generation and transport can reach them. */
function confirmerFor(
  server: Server,
  ctx: ServerContext,
  o: { runtime: Runtime; states: ConfirmStates; validator: LazyJsonSchemaValidator; caller: Caller; legacyHttp: LegacyHttp | undefined },
): Confirmer {
  const { config } = o.runtime;
  const envelope = envelopeOf(ctx);
  if (envelope) {
    const why = whyCannotAsk(envelope.capabilities);
    return why ? cannotAsk(why) : roundsConfirmer(ctx, o.states, config, o.caller);
  }
  const http = o.legacyHttp;
  if (!http) {
    const why = whyCannotAsk(server.getClientCapabilities());
    return why ? cannotAsk(why) : pushConfirmer(server, ctx.mcpReq.id, config, o.validator);
  }
  const why = http.declared ? whyCannotAsk(http.declared.capabilities) : NO_SESSION_2025_HTTP;
  return why ? cannotAsk(why) : streamConfirmer(http.channel, ctx.mcpReq.id, o.runtime.questions, o.states, config, o.caller);
}

/** MCP 2026-07-28: the question goes back as the result; the client's retry of this call brings the answer. */
const askAndComeBack = (q: PendingQuestion): InputRequiredResult =>
  inputRequired({
    inputRequests: { confirm: inputRequired.elicit({ mode: "form", message: q.message, requestedSchema: CONFIRM_SCHEMA }) },
    requestState: q.state,
  });

/** The write path's keys; while the database that holds them cannot be reached, a refusal that names it. */
async function keysOrRefusal(runtime: Runtime) {
  try {
    return await runtime.keys();
  } catch (err) {
    throw new RefusalError(
      `Refused: ${(err as Error).message}; the key that signs previews and confirmations is kept there. Nothing was sent upstream. Reads still work; try the write again when the database is back.`,
    );
  }
}

/** The request's MCP 2026-07-28 envelope, when it carries one: protocol version, client, capabilities. */
function envelopeOf(ctx: ServerContext) {
  const e = ctx.mcpReq.envelope as Record<string, unknown> | undefined; // the SDK types it as an empty object
  if (!e) return undefined;
  return {
    capabilities: e["io.modelcontextprotocol/clientCapabilities"] as ClientCapabilities | undefined,
    client: e["io.modelcontextprotocol/clientInfo"] as { name?: string; version?: string } | undefined,
  };
}

/**
 * tools/list, and the views' resource: a host that declares MCP Apps gets `_meta.ui` on the tools with a
 * view and can list and read the document; any other client gets the listing as it always was.
 */
function serveListings(
  server: Server,
  load: Runtime["catalog"],
  allows: ServerDeps["allows"],
  showsViews: (ctx: ServerContext) => boolean,
): void {
  server.setRequestHandler("tools/list", async (_request, extra) => {
    const { listing } = await load();
    const tools = showsViews(extra) ? viewListing(listing) : listing;
    return { tools: allows ? tools.filter((t) => allows(t.name)) : tools };
  });
  server.setRequestHandler("resources/list", async (_request, extra) => ({ resources: showsViews(extra) ? [VIEWS_RESOURCE] : [] }));
  server.setRequestHandler("resources/read", async (request, extra) => {
    if (!showsViews(extra)) throw new ResourceNotFoundError(request.params.uri);
    return readViews(request.params.uri);
  });
}

/** What the client of this request declared: in its envelope (2026-07-28), in its 2025 HTTP session, or at initialize. */
function capabilitiesOf(server: Server, ctx: ServerContext, legacyHttp: LegacyHttp | undefined): ClientCapabilities | undefined {
  const envelope = envelopeOf(ctx);
  if (envelope) return envelope.capabilities;
  return legacyHttp ? legacyHttp.declared?.capabilities : server.getClientCapabilities();
}

/** The listing with views, made once per listing (the catalog's listing lives as long as the process). */
const VIEW_LISTINGS = new WeakMap<ReadonlyArray<Tool>, Tool[]>();
function viewListing(listing: Tool[]): Tool[] {
  const made = VIEW_LISTINGS.get(listing);
  if (made) return made;
  const out = withViews(listing);
  VIEW_LISTINGS.set(listing, out);
  return out;
}

/** The MCP client, as it named itself: in this request's envelope (2026-07-28) or at initialize (2025). */
function clientOf(server: Server, ctx: ServerContext): WriteServices["client"] {
  const envelope = envelopeOf(ctx);
  return envelope ? envelope.client : server.getClientVersion();
}

const SANDBOX_NOTE = "Sandbox mode: this result came from the built-in sandbox, not from a real account. Nothing real was read or changed.";

/** An error result. Its text may quote an upstream's words, so it is scrubbed with the call's own secrets too. */
function errorResult(text: string, sandbox = false, ctx?: CallContext): CallToolResult {
  const clean = stripInvisible(text);
  return {
    content: [{ type: "text", text: (ctx ? ctx.scrub(clean) : redact(clean)) + (sandbox ? `\n${SANDBOX_NOTE}` : "") }],
    isError: true,
  };
}

/**
 * One log line for a call that failed. What the server refused on purpose (already undone, a conflict,
 * the database down, ...), an upstream's error and bad arguments are warnings with their reason; only
 * what nobody meant (a bug) is an error with its stack.
 */
function logFailure(logger: Runtime["logger"], name: string, err: unknown, ms: number, scrub: (text: string) => string): void {
  if (err instanceof RefusalError || err instanceof DatabaseUnavailable) {
    logger.warn(`${name}: refused`, { ms, reason: scrub(err.message) });
    return;
  }
  if (err instanceof UpstreamError) {
    logger.warn(`${name}: ${err.provider} ${err.code}${err.status ? ` ${err.status}` : ""}`, { ms });
    return;
  }
  if (err instanceof InputError) {
    logger.warn(`${name}: invalid arguments`, { ms });
    return;
  }
  logger.error(`${name}: internal error`, { ms, ...(err instanceof Error ? { error: scrub(err.stack ?? err.message) } : {}) });
}

function unavailableTool(name: string, exposed: ReadonlyArray<ToolDefinition>, all: ReadonlyArray<ToolDefinition>, config: Config): string {
  const available = exposed.map((t) => t.name).join(", ") || "none";
  const known = all.find((t) => t.name === name);
  if (known) {
    const why =
      config.readOnly && !known.annotations.readOnlyHint
        ? "read-only mode (USERS_MCP_READ_ONLY / --read-only)"
        : "the tool allowlist (USERS_MCP_TOOLS / --tools)";
    return `Tool ${name} is disabled on this server by ${why}. Available tools: ${available}. Ask the person who configured the server to enable it.`;
  }
  return `Unknown tool ${JSON.stringify(stripInvisible(name).slice(0, 100))}. Available tools: ${available}.`;
}

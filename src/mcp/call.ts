import {
  type CallToolResult,
  type ClientCapabilities,
  type InputRequiredResult,
  inputRequired,
  ProtocolError,
  ProtocolErrorCode,
  type Server,
  type ServerContext,
} from "@modelcontextprotocol/server";
import { DatabaseUnavailable } from "../audit/database.js";
import type { Actor } from "../audit/log.js";
import type { CallContext } from "../client/call-context.js";
import { InputError, UpstreamError } from "../client/errors.js";
import type { Clients } from "../client/index.js";
import { parsesAsIs } from "../kernel/as-is.js";
import { cleanOutput, redact, stripInvisible } from "../kernel/redact.js";
import { RefusalError } from "../kernel/refusal.js";
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
import { envelopeOf } from "./envelope.js";
import { describeError, describeIssues } from "./explain.js";
import type { LazyJsonSchemaValidator } from "./lazy-validator.js";
import type { Catalog, Runtime } from "./runtime.js";
import type { RuntimeState } from "./state.js";
import { RECORD_META } from "./views.js";

// The tools/call path, loaded on the first call (src/mcp/server.ts imports it on demand): argument
// checks, the tools' handlers and their dependencies, confirmation, error explanations. Nothing here is
// needed to answer initialize, server/discover or tools/list, so none of it is on the start-up path.

export interface ServerDeps {
  /** What the process holds for every server it makes (the HTTP mode makes one per request). */
  runtime: Runtime;
  /** The upstream clients of this server's caller, or how to make them on the first call (stdio). */
  clients: Clients | (() => Promise<Clients>);
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

/** What a tool call needs of the server that received it. */
export interface CallScope extends Omit<ServerDeps, "shutdown"> {
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
export async function callTool(
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
  // Made before the call's deadline starts: loading them is this process's time, not the upstream's.
  const [state, clients] = await Promise.all([runtime.state(), typeof call.clients === "function" ? call.clients() : call.clients]);
  const started = Date.now();
  const ctx = state.calls.start(runtime.config.timeoutMs, extra.mcpReq.signal, call.shutdown);
  runtime.busy.add();
  try {
    const input = checkArguments(tool, params.arguments ?? {});
    let record: NamedRecord | undefined; // the record a write applies to, for a host's review view
    const handled: unknown = await tool.handler(input, ctx, await toolDeps(call, { state, clients, tool, extra }, (r) => (record = r)));
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

/** What the handler is given: reads get the settings, clients and log; writes also the write path's services. */
async function toolDeps(
  call: CallScope,
  { state, clients, tool, extra }: { state: RuntimeState; clients: Clients; tool: ToolDefinition; extra: ServerContext },
  named: (r: NamedRecord) => void,
): Promise<ToolDeps | WriteToolDeps> {
  const { runtime, tenant, actor, server, validator, legacyHttp } = call;
  const { config, logger } = runtime;
  const deps: ToolDeps = { config, clients, logger, history: state.history, tenant, actor };
  if (tool.kind === "read") return deps;
  const { previews, confirmStates } = await keysOrRefusal(state);
  const writes: WriteServices = {
    previews,
    audit: state.audit,
    queues: state.queues,
    confirmer: confirmerFor(server, extra, { runtime, state, states: confirmStates, validator, caller: { tenant, actor }, legacyHttp }),
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
  o: {
    runtime: Runtime;
    state: RuntimeState;
    states: ConfirmStates;
    validator: LazyJsonSchemaValidator;
    caller: Caller;
    legacyHttp: LegacyHttp | undefined;
  },
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
  return why ? cannotAsk(why) : streamConfirmer(http.channel, ctx.mcpReq.id, o.state.questions, o.states, config, o.caller);
}

/** MCP 2026-07-28: the question goes back as the result; the client's retry of this call brings the answer. */
const askAndComeBack = (q: PendingQuestion): InputRequiredResult =>
  inputRequired({
    inputRequests: { confirm: inputRequired.elicit({ mode: "form", message: q.message, requestedSchema: CONFIRM_SCHEMA }) },
    requestState: q.state,
  });

/** The write path's keys; while the database that holds them cannot be reached, a refusal that names it. */
async function keysOrRefusal(state: RuntimeState) {
  try {
    return await state.keys();
  } catch (err) {
    throw new RefusalError(
      `Refused: ${(err as Error).message}; the key that signs previews and confirmations is kept there. Nothing was sent upstream. Reads still work; try the write again when the database is back.`,
    );
  }
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

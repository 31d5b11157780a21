import {
  type CallToolRequest,
  type CallToolResult,
  type ClientCapabilities,
  type InputRequiredResult,
  inputRequired,
  inputResponse,
  type RequestId,
  SdkError,
  SdkErrorCode,
  type Server,
  type ServerContext,
} from "@modelcontextprotocol/server";
import type { Actor, Confirmation } from "../audit/log.js";
import type { CallContext } from "../client/call-context.js";
import { InputError, UpstreamError } from "../client/errors.js";
import type { Clients } from "../client/index.js";
import { parsesAsIs } from "../kernel/as-is.js";
import { cleanOutput, redact, stripInvisible } from "../kernel/redact.js";
import { RefusalError } from "../kernel/refusal.js";
import type { Config } from "../settings/config.js";
import type { ToolDefinition } from "../tools/define.js";
import { ConfirmationNeeded, type Person, type WriteServices } from "../writes/pipeline.js";
import { checkArgumentShape } from "./arguments.js";
import { describeError, describeIssues } from "./explain.js";
import type { LazyJsonSchemaValidator } from "./lazy-validator.js";
import type { Runtime } from "./runtime.js";
import type { RuntimeState } from "./state.js";

// The tools/call path, loaded on the first call: argument checks, the tools' handlers, the write
// pipeline, error explanations. Nothing here is needed to answer initialize, server/discover or
// tools/list, so none of it is on the start-up path (src/mcp/server.ts imports it on demand).

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
}

/** The upstream clients of this server's caller: given, or made on the first call (stdio). */
async function clientsOf(deps: ServerDeps): Promise<Clients> {
  return typeof deps.clients === "function" ? await deps.clients() : deps.clients;
}

/** What a write needs besides the tool's own dependencies: keys, audit, queues, who asks and who answers. */
async function writeServices(
  server: Server,
  ctx: ServerContext,
  { tenant, actor, runtime }: ServerDeps,
  state: RuntimeState,
  validator: LazyJsonSchemaValidator,
): Promise<WriteServices> {
  return {
    ...(await keysOrRefusal(state)),
    audit: state.audit,
    queues: state.queues,
    person: personFor(server, ctx, runtime.config, validator),
    client: clientOf(server, ctx),
    tenant,
    actor,
  };
}

/** One tools/call: the tool's answer, an input_required result (a confirmation to ask), or an error result. */
export async function callTool(
  server: Server,
  deps: ServerDeps,
  validator: LazyJsonSchemaValidator,
  request: CallToolRequest,
  extra: ServerContext,
): Promise<CallToolResult | InputRequiredResult> {
  const { runtime, shutdown, tenant } = deps;
  const { config, logger } = runtime;
  const name = request.params.name;
  const { all, tools, byName } = await runtime.catalog();
  const tool = byName.get(name);
  if (!tool) return errorResult(unavailableTool(name, tools, all, config));
  const [state, clients] = await Promise.all([runtime.state(), clientsOf(deps)]);

  const started = Date.now();
  const ctx = state.calls.start(config.timeoutMs, extra.mcpReq.signal, shutdown);
  const failed = (err: unknown): CallToolResult => {
    const level = err instanceof InputError || err instanceof UpstreamError ? "warn" : "error";
    logger[level](
      `${name}: ${err instanceof UpstreamError ? `${err.provider} ${err.code}${err.status ? ` ${err.status}` : ""}` : err instanceof InputError ? "invalid arguments" : "internal error"}`,
      {
        ms: Date.now() - started,
        ...(level === "error" && err instanceof Error ? { error: ctx.scrub(err.stack ?? err.message) } : {}),
      },
    );
    if (shutdown?.aborted && err instanceof UpstreamError && err.code === "cancelled") {
      return errorResult(
        `The server is shutting down, so ${name} was stopped before it finished. ${err.maybeApplied ? "The write may or may not have been applied: read the record again after the server restarts." : "Nothing was written."}`,
        config.sandbox,
      );
    }
    return errorResult(describeError(err, tool, config), config.sandbox, ctx);
  };
  runtime.busy.add();
  try {
    const args = request.params.arguments ?? {};
    const shapeError = checkArgumentShape(args);
    if (shapeError) throw shapeError;
    if (tool.refusedFields) {
      const reasons = tool.refusedFields;
      const refused = Object.keys(args)
        .filter((k) => Object.hasOwn(reasons, k))
        .map((k) => ({ field: k, message: reasons[k] ?? "" }));
      if (refused.length) throw new InputError(refused);
    }
    let input: unknown = args; // arguments that already are what the schema describes need no copy
    if (!parsesAsIs(tool.input, args)) {
      const parsed = tool.input.safeParse(args);
      if (!parsed.success) throw describeIssues(tool.name, tool.input, parsed.error.issues, args);
      input = parsed.data;
    }
    const toolDeps = tool.annotations.readOnlyHint
      ? { config, clients, logger, history: state.history, tenant }
      : { config, clients, logger, history: state.history, tenant, writes: await writeServices(server, extra, deps, state, validator) };
    const output = cleanOutput(await tool.handler(input, ctx, toolDeps), ctx.secrets);
    logger.info(`${name}: ok`, { ms: Date.now() - started });
    // Compact: hosts that hand the text to the model (Gemini CLI, the AI SDK) pay for every indentation byte.
    const content: CallToolResult["content"] = [{ type: "text", text: JSON.stringify(output) }];
    if (config.sandbox) content.push({ type: "text", text: SANDBOX_NOTE });
    return {
      content,
      structuredContent: output as Record<string, unknown>,
      ...(config.sandbox ? { _meta: { "users-mcp/sandbox": true } } : {}),
    };
  } catch (err) {
    if (err instanceof ConfirmationNeeded) {
      logger.info(`${name}: asking the person to confirm`, { ms: Date.now() - started });
      // The question goes back as the result; the client's retry of this call brings the answer.
      return inputRequired({
        inputRequests: { confirm: inputRequired.elicit({ mode: "form", message: err.question, requestedSchema: CONFIRM_SCHEMA }) },
        requestState: err.state,
      });
    }
    return failed(err);
  } finally {
    ctx.dispose();
    runtime.busy.remove();
  }
}

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

/** The request's MCP 2026-07-28 envelope, when it carries one: protocol version, client, capabilities. */
function envelopeOf(ctx: ServerContext) {
  const e = ctx.mcpReq.envelope as Record<string, unknown> | undefined; // the SDK types it as an empty object
  if (!e) return undefined;
  return {
    capabilities: e["io.modelcontextprotocol/clientCapabilities"] as ClientCapabilities | undefined,
    client: e["io.modelcontextprotocol/clientInfo"] as { name?: string; version?: string } | undefined,
  };
}

/** The MCP client, as it named itself: in this request's envelope (2026-07-28) or at initialize (2025). */
function clientOf(server: Server, ctx: ServerContext): WriteServices["client"] {
  const envelope = envelopeOf(ctx);
  return envelope ? envelope.client : server.getClientVersion();
}

/** Form elicitation declared: `form`, or a bare `elicitation: {}` (the meaning before modes). */
function canElicitForm(capabilities: ClientCapabilities | undefined): boolean {
  const e = capabilities?.elicitation as { form?: unknown; url?: unknown } | undefined;
  return e !== undefined && (e.form !== undefined || e.url === undefined);
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

/** The form a confirmation asks for: one yes/no, pre-set to yes, so that "Accept" applies the change. */
const CONFIRM_SCHEMA = {
  type: "object" as const,
  properties: {
    confirm: {
      type: "boolean" as const,
      title: "Apply this change",
      description: "Accept to apply the change described above; decline to leave the record as it is.",
      default: true,
    },
  },
};

/**
 * The person behind the host. MCP 2026-07-28: asked through a Multi Round-Trip Request (the
 * question ends the call; the retry brings the answer and the sealed state). MCP 2025: asked with a
 * form elicitation sent as part of the call, where the connection can carry it (stdio; not stateless
 * HTTP). Only an explicit accept counts as yes: a decline, a dismissal, no answer in time, or an
 * answer that does not fit the form leaves the record alone.
 */
function personFor(server: Server, ctx: ServerContext, config: Config, validator: LazyJsonSchemaValidator): Person {
  const envelope = envelopeOf(ctx);
  if (envelope) {
    if (!canElicitForm(envelope.capabilities)) return { kind: "none" };
    const state = ctx.mcpReq.requestState();
    return { kind: "rounds", retry: typeof state === "string" ? { state, answer: answerIn(ctx) } : undefined };
  }
  if (!canElicitForm(server.getClientCapabilities())) return { kind: "none" };
  const requestId: RequestId = ctx.mcpReq.id;
  return {
    kind: "push",
    async ask(message: string, call: CallContext): Promise<Confirmation> {
      try {
        await validator.load();
        const answer = await server.elicitInput(
          { mode: "form", message, requestedSchema: CONFIRM_SCHEMA },
          { relatedRequestId: requestId, signal: call.signal, timeout: config.confirm.timeoutMs },
        );
        if (answer.action === "accept") return answer.content?.confirm === false ? "declined" : "accepted";
        return answer.action === "decline" ? "declined" : "cancelled";
      } catch (err) {
        if (err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout) return "timeout";
        if (call.signal.aborted) return "cancelled";
        return "declined"; // an answer that does not fit the form is no yes
      }
    },
  };
}

/** What a 2026-07-28 retry answered to the confirmation question; "missing" when it carries no answer. */
function answerIn(ctx: ServerContext): Confirmation | "missing" {
  const answer = inputResponse(ctx.mcpReq.inputResponses, "confirm");
  if (answer.kind === "missing") return "missing";
  if (answer.kind !== "elicit") return "declined";
  if (answer.action === "decline") return "declined";
  if (answer.action === "cancel") return "cancelled";
  const confirm = answer.content?.confirm;
  if (confirm === undefined || confirm === true) return "accepted";
  return "declined"; // false, or an answer that does not fit the form
}

import {
  type CallToolResult,
  type ClientCapabilities,
  type InputRequiredResult,
  inputRequired,
  Server,
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
import { VERSION } from "../kernel/version.js";
import type { Config } from "../settings/config.js";
import type { ToolDefinition } from "../tools/define.js";
import { type Confirmer, cannotAsk, PendingQuestion } from "../writes/confirm.js";
import type { ConfirmStates } from "../writes/confirm-state.js";
import type { WriteServices } from "../writes/pipeline.js";
import { checkArgumentShape } from "./arguments.js";
import { type Caller, CONFIRM_SCHEMA, pushConfirmer, roundsConfirmer, STATELESS_2025_HTTP, whyCannotAsk } from "./confirmers.js";
import { describeError, describeIssues } from "./explain.js";
import { LazyJsonSchemaValidator } from "./lazy-validator.js";
import type { Runtime } from "./runtime.js";

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
   * How an MCP 2025 call reaches the person: over a connection that carries the server's requests
   * (stdio, the default), or not at all (stateless HTTP).
   */
  legacyAsk?: "connection" | "none";
  /**
   * Which tools the caller may use (OAuth scopes): tools/list shows only those, as if the rest did not
   * exist, and a call to another is refused. Undefined: every tool this configuration exposes.
   */
  allows?: ((tool: string) => boolean) | undefined;
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
export function createServer({ runtime, clients, shutdown, tenant, actor, legacyAsk = "connection", allows }: ServerDeps): Server {
  const { config, logger } = runtime;
  const load = runtime.catalog;
  // Ajv (to check elicitation answers) loads when the first confirmation is asked, not at start-up.
  const validator = new LazyJsonSchemaValidator();
  const server = new Server(
    { name: "users-mcp", title: "Users (Leadping, LeadConnector, 2SMS)", version: VERSION },
    {
      capabilities: { tools: { listChanged: false } },
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
  const writeServices = async (ctx: ServerContext): Promise<WriteServices> => {
    const { previews, confirmStates } = await keysOrRefusal(runtime);
    return {
      previews,
      audit: runtime.audit,
      queues: runtime.queues,
      confirmer: confirmerFor(server, ctx, { states: confirmStates, config, validator, caller: { tenant, actor }, legacyAsk }),
      client: clientOf(server, ctx),
      tenant,
      actor,
    };
  };

  server.setRequestHandler("tools/list", async () => {
    const { listing } = await load();
    return { tools: allows ? listing.filter((t) => allows(t.name)) : listing };
  });

  server.setRequestHandler("tools/call", async (request, extra): Promise<CallToolResult | InputRequiredResult> => {
    const name = request.params.name;
    const { all, tools, byName } = await load();
    const tool = byName.get(name);
    if (allows && !allows(name))
      return errorResult(
        `${stripInvisible(name).slice(0, 100)} is not allowed with this sign-in's scopes: sign in again granting users:write. Nothing was sent upstream.`,
      );
    if (!tool) return errorResult(unavailableTool(name, tools, all, config));

    const started = Date.now();
    const ctx = runtime.calls.start(config.timeoutMs, extra.mcpReq.signal, shutdown);
    const failed = (err: unknown): CallToolResult => {
      logFailure(logger, name, err, Date.now() - started, (text) => ctx.scrub(text));
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
      const deps = tool.annotations.readOnlyHint
        ? { config, clients, logger, history: runtime.history, tenant }
        : { config, clients, logger, history: runtime.history, tenant, writes: await writeServices(extra) };
      const handled: unknown = await tool.handler(input, ctx, deps);
      if (handled instanceof PendingQuestion) {
        logger.info(`${name}: asking the person to confirm`, { ms: Date.now() - started });
        return askAndComeBack(handled);
      }
      const output = cleanOutput(handled, ctx.secrets);
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
      return failed(err);
    } finally {
      ctx.dispose();
      runtime.busy.remove();
    }
  });

  return server;
}

/** The person behind the host, as this request's protocol generation and transport can reach them. */
function confirmerFor(
  server: Server,
  ctx: ServerContext,
  o: { states: ConfirmStates; config: Config; validator: LazyJsonSchemaValidator; caller: Caller; legacyAsk: "connection" | "none" },
): Confirmer {
  const envelope = envelopeOf(ctx);
  if (envelope) {
    const why = whyCannotAsk(envelope.capabilities);
    return why ? cannotAsk(why) : roundsConfirmer(ctx, o.states, o.config, o.caller);
  }
  const why = whyCannotAsk(server.getClientCapabilities()) ?? (o.legacyAsk === "none" ? STATELESS_2025_HTTP : undefined);
  return why ? cannotAsk(why) : pushConfirmer(server, ctx.mcpReq.id, o.config, o.validator);
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

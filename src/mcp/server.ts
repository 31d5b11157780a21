import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import type { Confirmation } from "../audit/log.js";
import type { CallContext } from "../client/call-context.js";
import { InputError, UpstreamError } from "../client/errors.js";
import type { Clients } from "../client/index.js";
import { parsesAsIs } from "../kernel/as-is.js";
import { cleanOutput, redact, stripInvisible } from "../kernel/redact.js";
import { VERSION } from "../kernel/version.js";
import type { Config } from "../settings/config.js";
import type { ToolDefinition } from "../tools/define.js";
import type { Person, WriteServices } from "../writes/pipeline.js";
import { checkArgumentShape } from "./arguments.js";
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

/**
 * Builds the MCP server with the tools this configuration allows.
 *
 * This uses the SDK's low-level `Server` rather than `McpServer`: McpServer validates arguments itself and
 * answers with zod's raw messages, while agents need each refusal to name its field and say what to send
 * (including the reason for fields refused on purpose), and one place must turn every error into a result.
 */
export function createServer({ runtime, clients, shutdown, tenant }: ServerDeps): Server {
  const { config, logger } = runtime;
  const load = runtime.catalog;
  // Ajv (to check elicitation answers) loads when the first confirmation is asked, not at start-up.
  const validator = new LazyJsonSchemaValidator();
  const server = new Server(
    { name: "users-mcp", title: "Users (Leadping, LeadConnector, 2SMS)", version: VERSION },
    { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS, jsonSchemaValidator: validator },
  );
  const writeServices = (requestId: RequestId): WriteServices => ({
    audit: runtime.audit,
    previews: runtime.previews,
    queues: runtime.queues,
    person: personFor(server, requestId, config, validator),
    client: server.getClientVersion(),
    tenant,
  });

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: (await load()).listing }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const name = request.params.name;
    const { all, tools, byName } = await load();
    const tool = byName.get(name);
    if (!tool) return errorResult(unavailableTool(name, tools, all, config));

    const started = Date.now();
    const ctx = runtime.calls.start(config.timeoutMs, extra.signal, shutdown);
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
        : { config, clients, logger, history: runtime.history, tenant, writes: writeServices(extra.requestId) };
      const output = cleanOutput(await tool.handler(input, ctx, deps), ctx.secrets);
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
    } finally {
      ctx.dispose();
      runtime.busy.remove();
    }
  });

  return server;
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
 * The person behind the host, asked through MCP elicitation (form mode). The question goes out as part
 * of the tool call it belongs to. Only an explicit accept counts as yes: a decline, a dismissal, no
 * answer in time, or an answer that does not fit the form leaves the record alone.
 */
function personFor(server: Server, requestId: RequestId, config: Config, validator: LazyJsonSchemaValidator): Person {
  // The SDK reads a bare `elicitation: {}` (hosts before form/url modes) as form support.
  const canAsk = Boolean(server.getClientCapabilities()?.elicitation?.form);
  return {
    canAsk,
    async ask(message: string, ctx: CallContext): Promise<Confirmation> {
      try {
        await validator.load();
        const answer = await server.elicitInput(
          { mode: "form", message, requestedSchema: CONFIRM_SCHEMA },
          { relatedRequestId: requestId, signal: ctx.signal, timeout: config.confirm.timeoutMs },
        );
        if (answer.action === "accept") return answer.content?.confirm === false ? "declined" : "accepted";
        return answer.action === "decline" ? "declined" : "cancelled";
      } catch (err) {
        if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) return "timeout";
        if (ctx.signal.aborted) return "cancelled";
        return "declined"; // an answer that does not fit the form is no yes
      }
    },
  };
}

import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type RequestId,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { AuditIndex } from "../audit/history.js";
import { AuditLog, type Confirmation } from "../audit/log.js";
import type { CallContext } from "../client/call-context.js";
import { createCallContext } from "../client/call-context.js";
import { InputError, UpstreamError } from "../client/errors.js";
import type { Clients } from "../client/index.js";
import { parsesAsIs } from "../kernel/as-is.js";
import type { Logger } from "../kernel/log.js";
import { cleanOutput, redact, stripInvisible } from "../kernel/redact.js";
import { VERSION } from "../kernel/version.js";
import type { Config } from "../settings/config.js";
import { selectToolNames } from "../tools/catalog.js";
import type { ToolDefinition } from "../tools/define.js";
import type { Person, WriteServices } from "../writes/pipeline.js";
import { PreviewTokens } from "../writes/preview.js";
import { describeError, describeIssues, formatPath } from "./explain.js";
import { LazyJsonSchemaValidator } from "./lazy-validator.js";

/** Arguments larger than this (as JSON) are refused before validation: no tool needs more. */
export const MAX_ARGUMENT_BYTES = 256 * 1024;
/** No tool's arguments nest deeper than 4 levels; deeper input is refused before anything walks it recursively. */
export const MAX_ARGUMENT_DEPTH = 16;
/** Values (objects, arrays, scalars) in one call's arguments; the largest legitimate call has a few thousand. */
const MAX_ARGUMENT_VALUES = 50_000;

/** Keys that name a JavaScript object's machinery: no tool has such an argument, and parsing may drop or misread them. */
const RESERVED_KEYS = new Set(["__proto__", "constructor", "prototype"]);
/** What a top-level `__proto__` argument is renamed to before the SDK's parsing would drop it silently. */
const RESERVED_MARK = "\u0000reserved:";

/**
 * The SDK parses a call's `arguments` into a fresh object, and a `__proto__` key becomes that
 * object's prototype instead of a key: the argument vanishes without a word. Before the SDK sees a
 * message, such a key is renamed to a marked one, so that the argument check refuses it by name.
 */
export function keepReservedKeys<M>(message: M): M {
  if (Array.isArray(message)) {
    for (const m of message) keepReservedKeys(m);
    return message;
  }
  const params = (message as { method?: unknown; params?: { arguments?: unknown } } | null)?.params;
  const args = params?.arguments;
  if (args === null || typeof args !== "object" || Array.isArray(args) || !Object.hasOwn(args, "__proto__")) return message;
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args))
    Object.defineProperty(copy, k === "__proto__" ? `${RESERVED_MARK}__proto__` : k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  (params as { arguments: unknown }).arguments = copy;
  return message;
}

/** Connects a server to a transport, with reserved argument keys kept for the argument check. */
export async function connectServer(server: Server, transport: Transport): Promise<void> {
  await server.connect(transport);
  const deliver = transport.onmessage;
  if (deliver) transport.onmessage = (message, extra) => deliver(keepReservedKeys(message), extra);
}

/**
 * Checks the raw arguments without recursion, so hostile input cannot exhaust the stack: too deep,
 * too many values, too many bytes, or a `__proto__` key (which parsing would silently drop, losing
 * what the caller meant) are refused with the place to fix.
 */
export function checkArgumentShape(args: Record<string, unknown>): InputError | undefined {
  const stack: Array<[unknown, PropertyKey[]]> = [[args, []]];
  let values = 0;
  while (stack.length) {
    const [value, path] = stack.pop() as [unknown, PropertyKey[]];
    values += 1;
    if (values > MAX_ARGUMENT_VALUES)
      return new InputError([{ field: "(arguments)", message: `too large: more than ${MAX_ARGUMENT_VALUES} values` }]);
    if (value === null || typeof value !== "object") continue;
    if (path.length >= MAX_ARGUMENT_DEPTH)
      return new InputError([
        {
          field: formatPath(path),
          message: `nested too deeply (more than ${MAX_ARGUMENT_DEPTH} levels); no argument of any tool needs that`,
        },
      ]);
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], [...path, i]]);
      continue;
    }
    for (const key of Object.keys(value)) {
      const reserved = key.startsWith(RESERVED_MARK) ? key.slice(RESERVED_MARK.length) : RESERVED_KEYS.has(key) ? key : undefined;
      if (reserved !== undefined)
        return new InputError([{ field: formatPath([...path, reserved]), message: "a reserved name, not accepted as a key; remove it" }]);
      stack.push([(value as Record<string, unknown>)[key], [...path, key]]);
    }
  }
  if (Buffer.byteLength(JSON.stringify(args)) > MAX_ARGUMENT_BYTES)
    return new InputError([{ field: "(arguments)", message: `too large: at most ${MAX_ARGUMENT_BYTES / 1024} KiB of JSON` }]);
  return undefined;
}

export interface ServerDeps {
  config: Config;
  clients: Clients;
  logger: Logger;
  /** Aborted when the process is shutting down: in-flight calls stop and answer instead of being cut off. */
  shutdown?: AbortSignal;
  /** State shared by every server of a process (the HTTP mode makes one server per request). */
  shared?: SharedState;
  /** The caller's tenant (a hash of its credentials), recorded with its writes in caller-credentials mode. */
  tenant?: string | undefined;
}

/** What servers of one process share: the tool catalog, the preview key, the audit log. */
export interface SharedState {
  catalog(): Promise<Catalog>;
  previews: PreviewTokens;
  audit: AuditLog | undefined;
  /** The audit log indexed for list_writes and revert_write. */
  history: AuditIndex | undefined;
  close(): Promise<void>;
}

export function createShared(config: Config, logger?: Logger): SharedState {
  selectToolNames(config); // a configuration error surfaces at start-up, not at the first call
  // The definitions (zod schemas, vocabularies) load on the first tools/list or tools/call, after
  // the host's initialize has been answered: start-up pays only for what initialize needs.
  let catalog: Promise<Catalog> | undefined;
  const audit = config.auditLog ? new AuditLog(config.auditLog, (m) => logger?.warn(m)) : undefined;
  return {
    catalog() {
      catalog ??= import("../tools/index.js").then(({ ALL_TOOLS, selectTools }) => {
        const tools = selectTools(config);
        return { all: ALL_TOOLS, tools, byName: new Map(tools.map((t) => [t.name, t])), listing: toolListing(tools) };
      });
      return catalog;
    },
    previews: new PreviewTokens(config.previewKey),
    audit,
    history: config.auditLog ? new AuditIndex(config.auditLog) : undefined,
    close: async () => audit?.close(),
  };
}

/** Tool calls under way, so a shutdown can wait for them to answer. */
export const inFlight = { count: 0 };

const INSTRUCTIONS = [
  "users-mcp reads and changes user accounts on three platforms: Leadping (get_current_user, update_compliance),",
  "LeadConnector/HighLevel (search_users, get_user, update_user) and 2SMS (get_gdpr_user, update_gdpr). Look",
  "before you write: find the person and read their record first. Every write tool reads the current record,",
  "changes only the fields you pass, reports each changed field before and after, and accepts dryRun: true to",
  "preview (its previewToken makes the write refuse if the record moved). Writes touch consent, compliance and",
  "GDPR records of real people; sensitive ones may ask the person to confirm. If a person declines, do not retry.",
  "list_writes shows what was changed through this server; revert_write undoes one write by its auditId.",
].join(" ");

/** JSON Schema for a tool's input or output, as MCP hosts read it. */
export function jsonSchemaOf(schema: z.ZodType, io: "input" | "output"): Tool["inputSchema"] {
  const json = z.toJSONSchema(schema, { target: "draft-7", io, unrepresentable: "any" }) as Record<string, unknown>;
  // These schemas use nothing whose meaning differs between draft-07 and MCP's default dialect
  // (2020-12), so the marker is bytes the model reads for nothing.
  delete json.$schema;
  return slim(json) as Tool["inputSchema"];
}

/**
 * What a model reads of every tool costs context on every turn, so the schemas carry only what helps
 * it choose and fill a call. zod writes a regex beside `format` for date-times and emails (400
 * characters for a date-time) that says nothing the format does not; the server checks the real
 * rule either way.
 */
function slim(node: unknown): unknown {
  if (Array.isArray(node)) {
    for (const item of node) slim(item);
  } else if (node !== null && typeof node === "object") {
    const o = node as Record<string, unknown>;
    if (typeof o.format === "string" && typeof o.pattern === "string") delete o.pattern;
    for (const v of Object.values(o)) slim(v);
  }
  return node;
}

export function toolListing(tools: ReadonlyArray<ToolDefinition>): Tool[] {
  return tools.map((t) => ({
    name: t.name,
    title: t.title,
    description: t.description,
    inputSchema: jsonSchemaOf(t.input, "input"),
    outputSchema: jsonSchemaOf(t.output, "output") as Tool["outputSchema"],
    annotations: { title: t.title, ...t.annotations },
  }));
}

/**
 * Builds the MCP server with the tools this configuration allows.
 *
 * This uses the SDK's low-level `Server` rather than `McpServer`: McpServer validates arguments itself and
 * answers with zod's raw messages, while agents need each refusal to name its field and say what to send
 * (including the reason for fields refused on purpose), and one place must turn every error into a result.
 */
export function createServer({ config, clients, logger, shutdown, shared, tenant }: ServerDeps): Server {
  const own = shared ?? createShared(config, logger);
  const load = own.catalog;
  // Ajv (to check elicitation answers) loads when the first confirmation is asked, not at start-up.
  const validator = new LazyJsonSchemaValidator();
  const server = new Server(
    { name: "users-mcp", title: "Users (Leadping, LeadConnector, 2SMS)", version: VERSION },
    { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS, jsonSchemaValidator: validator },
  );
  // A server that made its own shared state closes it; shared state outlives the servers using it.
  if (!shared) server.onclose = () => void own.close();
  const writeServices = (requestId: RequestId): WriteServices => ({
    audit: own.audit,
    previews: own.previews,
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
    const ctx = createCallContext(config.timeoutMs, extra.signal, shutdown);
    inFlight.count += 1;
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
        ? { config, clients, logger, history: own.history, tenant }
        : { config, clients, logger, history: own.history, tenant, writes: writeServices(extra.requestId) };
      const output = cleanOutput(await tool.handler(input, ctx, deps), ctx.secrets);
      logger.info(`${name}: ok`, { ms: Date.now() - started });
      const content: CallToolResult["content"] = [{ type: "text", text: JSON.stringify(output, null, 2) }];
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
      inFlight.count -= 1;
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

interface Catalog {
  all: ReadonlyArray<ToolDefinition>;
  tools: ToolDefinition[];
  byName: Map<string, ToolDefinition>;
  listing: Tool[];
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

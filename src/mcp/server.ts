import { Server } from "@modelcontextprotocol/server";
import { VERSION } from "../kernel/version.js";
import type { ServerDeps } from "./call.js";
import { LazyJsonSchemaValidator } from "./lazy-validator.js";
import type { Runtime } from "./runtime.js";

export type { LegacyHttp, ServerDeps } from "./call.js";

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
  server.setRequestHandler("tools/list", async () => {
    const listing = await runtime.listing();
    setTimeout(prepareCalls, PREPARE_AFTER_MS, runtime, clients).unref(); // once the answer is out, while the host turns to its model
    return { tools: allows ? listing.filter((t) => allows(t.name)) : listing };
  });

  const call = { runtime, clients, shutdown, tenant, actor, legacyHttp, allows, server, validator };
  server.setRequestHandler("tools/call", async (request, extra) => {
    calls ??= import("./call.js");
    return (await calls).callTool(call, request.params, extra);
  });

  return server;
}

/** The tools/call path (src/mcp/call.ts), loaded on the first call: nothing before it needs it. */
let calls: Promise<typeof import("./call.js")> | undefined;

/** How long after a tools/list answer the call path starts loading: a host asks its model in between. */
const PREPARE_AFTER_MS = 250;

/**
 * A host lists the tools and then waits for its model: that pause loads the call path, the tool
 * definitions, the calls' state and the upstream clients, so that the first call does not pay for them. A failure here
 * (a state that cannot be made) is left to surface, explained, on the first call.
 */
function prepareCalls(runtime: Runtime, clients: ServerDeps["clients"]): void {
  calls ??= import("./call.js");
  Promise.all([calls, runtime.catalog(), runtime.state(), typeof clients === "function" ? clients() : undefined]).catch(() => {});
}

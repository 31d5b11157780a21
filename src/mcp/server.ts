import { ResourceNotFoundError, Server, type ServerContext, type Tool } from "@modelcontextprotocol/server";
import { VERSION } from "../kernel/version.js";
import type { ServerDeps } from "./call.js";
import { capabilitiesOf } from "./envelope.js";
import { LazyJsonSchemaValidator } from "./lazy-validator.js";
import type { Runtime } from "./runtime.js";
import { declaresUi, readViews, VIEWS_RESOURCE, withViews } from "./views.js";

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
export function createServer(deps: ServerDeps): Server {
  const { runtime, legacyHttp, allows } = deps;
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
  serveListings(server, deps, showsViews);

  const call = { ...deps, shutdown: deps.shutdown, server, validator, showsViews };
  server.setRequestHandler("tools/call", async (request, extra) => {
    calls ??= import("./call.js");
    return (await calls).callTool(call, request.params, extra);
  });

  return server;
}

/**
 * tools/list, and the views' resource: a host that declares MCP Apps gets `_meta.ui` on the tools with a
 * view and can list and read the document; any other client gets the listing as it always was.
 */
function serveListings(server: Server, { runtime, clients, allows }: ServerDeps, showsViews: (ctx: ServerContext) => boolean): void {
  server.setRequestHandler("tools/list", async (_request, extra) => {
    const listing = await runtime.listing();
    setTimeout(prepareCalls, PREPARE_AFTER_MS, runtime, clients).unref(); // once the answer is out, while the host turns to its model
    const tools = showsViews(extra) ? viewListing(listing) : listing;
    return { tools: allows ? tools.filter((t) => allows(t.name)) : tools };
  });
  server.setRequestHandler("resources/list", async (_request, extra) => ({ resources: showsViews(extra) ? [VIEWS_RESOURCE] : [] }));
  server.setRequestHandler("resources/read", async (request, extra) => {
    if (!showsViews(extra)) throw new ResourceNotFoundError(request.params.uri);
    return readViews(request.params.uri);
  });
}

/** The listing with views, made once per listing (the runtime's listing lives as long as the process). */
const VIEW_LISTINGS = new WeakMap<ReadonlyArray<Tool>, Tool[]>();
function viewListing(listing: Tool[]): Tool[] {
  const made = VIEW_LISTINGS.get(listing);
  if (made) return made;
  const out = withViews(listing);
  VIEW_LISTINGS.set(listing, out);
  return out;
}

/** The tools/call path (src/mcp/call.ts), loaded on the first call: nothing before it needs it. */
let calls: Promise<typeof import("./call.js")> | undefined;

/** How long after a tools/list answer the call path starts loading: a host asks its model in between. */
const PREPARE_AFTER_MS = 250;

/**
 * A host lists the tools and then waits for its model: that pause loads the call path, the tool
 * definitions, the calls' state and the upstream clients, so that the first call does not pay for them.
 * A failure here (a state that cannot be made) is left to surface, explained, on the first call.
 */
function prepareCalls(runtime: Runtime, clients: ServerDeps["clients"]): void {
  calls ??= import("./call.js");
  Promise.all([calls, runtime.catalog(), runtime.state(), typeof clients === "function" ? clients() : undefined]).catch(() => {});
}

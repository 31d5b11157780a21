import { type ClientCapabilities, ResourceNotFoundError, type Tool } from "@modelcontextprotocol/server";

/**
 * MCP Apps (the `io.modelcontextprotocol/ui` extension): hosts that declare it render a small view of a
 * tool's result inside the conversation. One HTML document (src/views/, built to dist/views/) serves
 * the three views, choosing by the tool it is shown for. Everything else the server says stays as it
 * is: a client that does not declare the extension gets exactly the tools/list it always had.
 */
export const UI_EXTENSION = "io.modelcontextprotocol/ui";
export const UI_MIME = "text/html;profile=mcp-app";
export const VIEWS_URI = "ui://users-mcp/views.html";
/** Where a result names the record a write applies to, for the review view (not part of structuredContent). */
export const RECORD_META = "users-mcp/record";

/** The tools that open a view: every write (review), list_writes (history), the three record reads (card). */
const TOOLS_WITH_VIEW = new Set([
  "update_compliance",
  "update_user",
  "update_gdpr",
  "revert_write",
  "list_writes",
  "get_user",
  "get_gdpr_user",
  "get_current_user",
]);

/** Declared: the extension, with the MCP App MIME type among its `mimeTypes`. */
export function declaresUi(capabilities: ClientCapabilities | undefined): boolean {
  const ui = capabilities?.extensions?.[UI_EXTENSION] as { mimeTypes?: unknown } | undefined;
  return Array.isArray(ui?.mimeTypes) && ui.mimeTypes.includes(UI_MIME);
}

/** The listing with `_meta.ui.resourceUri` on each tool that has a view (and the older flat key hosts still read). */
export function withViews(listing: ReadonlyArray<Tool>): Tool[] {
  return listing.map((t) =>
    TOOLS_WITH_VIEW.has(t.name) ? { ...t, _meta: { ...t._meta, ui: { resourceUri: VIEWS_URI }, "ui/resourceUri": VIEWS_URI } } : t,
  );
}

/**
 * The view resource as resources/list shows it. `csp: {}`: the document needs no origin at all (scripts
 * and styles are inlined; it talks only to the host), so hosts allow it none. `prefersBorder` is set
 * explicitly because hosts' defaults differ.
 */
const RESOURCE_META = { ui: { csp: {}, prefersBorder: true } };
export const VIEWS_RESOURCE = {
  uri: VIEWS_URI,
  name: "users-mcp-views",
  title: "Review a change, write history, record card",
  description: "The views of users-mcp's write tools, list_writes and the record reads, for hosts that render MCP Apps.",
  mimeType: UI_MIME,
  _meta: RESOURCE_META,
};

/** The document, read on the first resources/read (not at start-up), from the build. */
export async function readViews(uri: string) {
  if (uri !== VIEWS_URI) throw new ResourceNotFoundError(uri);
  const { viewsHtml } = await import("./views-html.js");
  return { contents: [{ uri: VIEWS_URI, mimeType: UI_MIME, text: await viewsHtml(), _meta: RESOURCE_META }] };
}

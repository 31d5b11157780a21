/// <reference lib="dom" />
import {
  App,
  applyDocumentTheme,
  applyHostFonts,
  applyHostStyleVariables,
  type McpUiHostContext,
  PostMessageTransport,
} from "@modelcontextprotocol/ext-apps";
import { h, show } from "./dom.js";
import { renderHistory } from "./history.js";
import { type HistoryEntry, type NamedRecord, RECORD_TOOLS, WRITE_TOOLS, type WriteResult } from "./model.js";
import { renderRecord } from "./record.js";
import { type ReviewHost, renderReview } from "./review.js";

/**
 * The one document behind users-mcp's views (MCP Apps). The host shows it for a tool's result and
 * tells it which tool ran, with what arguments, and what came back; it picks the view from that:
 * a write → review, list_writes → history, a record read → record card. Anything it does goes
 * through the host's tools/call to the same server, under the same rules as any call.
 */

type ToolResult = {
  content?: Array<{ type: string; text?: string }>;
  structuredContent?: unknown;
  isError?: boolean;
  _meta?: Record<string, unknown>;
};

const root = document.getElementById("app") ?? document.body;
const app = new App({ name: "users-mcp views", version: "1" }, { availableDisplayModes: ["inline", "fullscreen"] }, { autoResize: true });
let toolName: string | undefined;
let toolArgs: Record<string, unknown> = {};

app.ontoolinput = (params) => {
  toolArgs = (params.arguments ?? {}) as Record<string, unknown>;
};
app.ontoolresult = (result) => render(result as ToolResult);
app.onhostcontextchanged = (ctx) => applyHostContext(ctx);

show(root, h("p", { class: "muted", role: "status" }, "Waiting for the result…"));
app
  .connect(new PostMessageTransport(window.parent, window.parent))
  .then(() => {
    const ctx = app.getHostContext();
    if (ctx) applyHostContext(ctx);
    toolName = ctx?.toolInfo?.tool.name;
  })
  .catch((err: Error) => show(root, h("p", { role: "alert", class: "error" }, `Could not reach the host: ${err.message}`)));

/** Theme, fonts, the host's CSS variables and the safe-area insets, each as far as the host says. */
function applyHostContext(ctx: McpUiHostContext): void {
  if (ctx.theme) applyDocumentTheme(ctx.theme);
  if (ctx.styles?.variables) applyHostStyleVariables(ctx.styles.variables);
  if (ctx.styles?.css?.fonts) applyHostFonts(ctx.styles.css.fonts);
  if (ctx.toolInfo?.tool.name) toolName = ctx.toolInfo.tool.name;
  const inset = ctx.safeAreaInsets;
  if (inset) {
    const style = document.documentElement.style;
    for (const side of ["top", "right", "bottom", "left"] as const) style.setProperty(`--safe-${side}`, `${inset[side]}px`);
  }
}

const textOf = (r: ToolResult) => (r.content ?? []).map((c) => c.text ?? "").join("\n");

/** Picks the view: by the tool the host names, else by the result's shape. */
function render(result: ToolResult): void {
  const record = result._meta?.["users-mcp/record"] as NamedRecord | undefined;
  const name = toolName ?? record?.tool;
  const data = (result.structuredContent ?? {}) as Record<string, unknown>;
  if (result.isError) {
    show(
      root,
      h(
        "section",
        { class: "card" },
        h("h1", {}, "The call did not go through"),
        h("p", { role: "alert", class: "error pre" }, textOf(result)),
      ),
    );
    return;
  }
  if ((name && WRITE_TOOLS.has(name)) || (!name && "changed" in data && "dryRun" in data)) {
    renderReview(root, host, { tool: record?.tool ?? name ?? "", args: toolArgs, result: data as WriteResult, record });
  } else if (name === "list_writes" || (!name && Array.isArray(data.writes))) {
    renderHistory(root, host, { args: toolArgs, writes: (data.writes ?? []) as HistoryEntry[] });
  } else if ((name && RECORD_TOOLS.has(name)) || !name) {
    renderRecord(root, host, { tool: name, data });
  }
}

/** What the views ask of the host, in one place (tests and other views see the same surface). */
const host: ReviewHost = {
  async call(name, args) {
    const r = (await app.callServerTool({ name, arguments: args })) as ToolResult;
    return {
      ok: !r.isError,
      text: textOf(r),
      data: (r.structuredContent ?? {}) as Record<string, unknown>,
      record: r._meta?.["users-mcp/record"] as NamedRecord | undefined,
    };
  },
  canMessage: () => Boolean(app.getHostCapabilities()?.message),
  async message(text) {
    await app.sendMessage({ role: "user", content: [{ type: "text", text }] });
  },
  async tellModel(text) {
    if (app.getHostCapabilities()?.updateModelContext) await app.updateModelContext({ content: [{ type: "text", text }] });
  },
};

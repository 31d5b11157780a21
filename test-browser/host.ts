/// <reference lib="dom" />
// The test host page: what an MCP Apps host does around a view, with ext-apps' AppBridge. The view
// runs in a sandboxed iframe on another origin; its tools/call requests go to the test (Node),
// which sends them to the built server through the SDK's client. Messages and model-context updates
// the view sends are kept for the test to read.
import { AppBridge, type McpUiHostContext, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

interface Mount {
  viewUrl: string;
  tool: { name: string; inputSchema: { type: "object" } };
  args: Record<string, unknown>;
  result: Record<string, unknown>;
  theme: "light" | "dark";
  styles?: Record<string, string>;
  /** false: a host that takes no messages from a view (ui/message). */
  canMessage?: boolean;
}

type CallResult = Awaited<ReturnType<NonNullable<AppBridge["oncalltool"]>>>;
declare global {
  interface Window {
    /** Exposed by the test: a tools/call through the SDK client to the built server. */
    hostCall(name: string, args: Record<string, unknown>): Promise<CallResult>;
    mount(m: Mount): Promise<void>;
    seen: { messages: unknown[]; contexts: unknown[]; calls: string[] };
  }
}

window.seen = { messages: [], contexts: [], calls: [] };
let bridge: AppBridge | undefined;

window.mount = async (m) => {
  if (bridge) await bridge.close();
  document.getElementById("view")?.remove();
  const iframe = document.createElement("iframe");
  iframe.id = "view";
  iframe.title = "users-mcp view";
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.src = m.viewUrl;
  document.getElementById("frame")?.append(iframe);
  document.body.dataset.theme = m.theme;

  const context: McpUiHostContext = {
    theme: m.theme,
    toolInfo: { tool: m.tool },
    displayMode: "inline",
    availableDisplayModes: ["inline"],
    platform: "web",
    locale: "en-US",
    safeAreaInsets: { top: 0, right: 0, bottom: 0, left: 0 },
    ...(m.styles ? { styles: { variables: m.styles as never } } : {}),
  };
  const b = new AppBridge(
    null,
    { name: "users-mcp test host", version: "1" },
    { serverTools: {}, updateModelContext: { text: {} }, ...(m.canMessage === false ? {} : { message: { text: {} } }) },
    { hostContext: context },
  );
  bridge = b;
  b.oncalltool = async (params) => {
    window.seen.calls.push(params.name);
    return window.hostCall(params.name, (params.arguments ?? {}) as Record<string, unknown>);
  };
  b.onmessage = async (params) => {
    window.seen.messages.push(params);
    return {};
  };
  b.onupdatemodelcontext = async (params) => {
    window.seen.contexts.push(params);
    return {};
  };
  b.onsizechange = ({ height }) => {
    if (height) iframe.style.height = `${height}px`;
  };
  const ready = new Promise<void>((resolve) => {
    b.oninitialized = () => {
      void b.sendToolInput({ arguments: m.args });
      void b.sendToolResult(m.result as never);
      resolve();
    };
  });
  await b.connect(new PostMessageTransport(iframe.contentWindow as Window, iframe.contentWindow as Window));
  await ready;
};

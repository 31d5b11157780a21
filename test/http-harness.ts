import { type ChildProcess, spawn } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { isolatedEnv, SERVER, until } from "./harness.js";

// The remote mode as an orchestrator runs it: the built server with --http on a free port.

export const TOKEN = "endpoint-token-0123456789abcdef";
export const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
};
export const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

export interface Remote {
  url: string;
  child: ChildProcess;
  stderr: string[];
  exitCode: number | null | undefined;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the built server with --http on a free port, as an orchestrator would, and waits until it listens. */
export async function startHttp(env: Record<string, string | undefined>, args: string[] = []): Promise<Remote> {
  const child = spawn(process.execPath, [SERVER, "--http", "--port", "0", ...args], {
    env: { PATH: process.env.PATH, ...isolatedEnv(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stderr: string[] = [];
  const remote: Remote = {
    url: "",
    child,
    stderr,
    exitCode: undefined,
    stop: async (signal = "SIGTERM") => {
      if (remote.exitCode === undefined) child.kill(signal);
      await until(() => remote.exitCode !== undefined, 30_000);
      return remote.exitCode ?? null;
    },
  };
  child.on("exit", (code) => {
    remote.exitCode = code;
  });
  child.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
  await until(() => /serving MCP over HTTP at (\S+)/.test(stderr.join("")) || remote.exitCode !== undefined, 10_000);
  const m = /serving MCP over HTTP at (\S+)/.exec(stderr.join(""));
  if (!m) throw new Error(`server did not start: ${stderr.join("")}`);
  remote.url = m[1] as string;
  return remote;
}

export async function mcpClient(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: "http-tests", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

export const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { ...MCP_HEADERS, ...headers }, body });

export const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;
/** The access log's fields: one `users-mcp info: request {...}` line per HTTP request, through the logger. */
export const jsonLines = (lines: string[]) =>
  lines
    .join("")
    .split("\n")
    .flatMap((l) => /^users-mcp info: request (\{.*\})$/.exec(l)?.[1] ?? [])
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** The `_meta` envelope an MCP 2026-07-28 request carries: protocol version, client, capabilities (form elicitation). */
export const MODERN_META = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": { elicitation: { form: {} } },
};

/**
 * One MCP 2026-07-28 request on the wire: the `_meta` envelope, and the headers the spec asks for
 * (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` for a tool call); `headers` add to or override them.
 */
export async function modernPost(url: string, method: string, params: Record<string, unknown>, headers: Record<string, string> = {}) {
  const name: Record<string, string> = typeof params.name === "string" ? { "mcp-name": params.name } : {};
  const res = await fetch(url, {
    method: "POST",
    headers: { ...MCP_HEADERS, "mcp-protocol-version": "2026-07-28", "mcp-method": method, ...name, ...headers },
    body: JSON.stringify({ jsonrpc: "2.0", id: Math.floor(Math.random() * 1e9), method, params: { ...params, _meta: MODERN_META } }),
    signal: AbortSignal.timeout(20_000),
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as { result?: Record<string, unknown>; error?: { code: number; message: string } },
  };
}

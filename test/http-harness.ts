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
export const jsonLines = (lines: string[]) =>
  lines
    .join("")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createClients } from "../src/clients.js";
import { type Config, loadConfig, secretsOf } from "../src/config.js";
import { createLogger } from "../src/log.js";
import { registerSecret } from "../src/redact.js";
import { SANDBOX_CREDENTIALS, type Sandbox, type SandboxOptions, startSandbox } from "../src/sandbox/index.js";
import { createServer } from "../src/server.js";

export { SANDBOX_CREDENTIALS };

/** Environment that points every provider at a running sandbox with its credentials. */
export function sandboxEnv(sandbox: Sandbox, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    LEADPING_BASE_URL: sandbox.baseUrls.leadping,
    LEADPING_API_TOKEN: SANDBOX_CREDENTIALS.leadpingToken,
    LEADCONNECTOR_BASE_URL: sandbox.baseUrls.leadconnector,
    LEADCONNECTOR_TOKEN: SANDBOX_CREDENTIALS.leadconnectorToken,
    TWOSMS_BASE_URL: sandbox.baseUrls.twosms,
    TWOSMS_CLIENT_ID: SANDBOX_CREDENTIALS.twosmsClientId,
    TWOSMS_CLIENT_SECRET: SANDBOX_CREDENTIALS.twosmsClientSecret,
    USERS_MCP_TIMEOUT_MS: "3000",
    ...extra,
  };
}

export interface Harness {
  client: Client;
  sandbox: Sandbox;
  config: Config;
  logs: string[];
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** The text of a result's first content block. */
  text(result: CallToolResult): string;
  close(): Promise<void>;
}

/**
 * The server in process, behind a real SDK client over linked in-memory transports, with its
 * clients talking real HTTP to a loopback sandbox.
 */
export async function startHarness(
  options: { env?: Record<string, string | undefined>; sandbox?: SandboxOptions; shareSandbox?: Sandbox } = {},
): Promise<Harness> {
  const sandbox = options.shareSandbox ?? (await startSandbox(options.sandbox));
  const config = loadConfig(sandboxEnv(sandbox, options.env) as NodeJS.ProcessEnv);
  for (const s of secretsOf(config)) registerSecret(s);
  const logs: string[] = [];
  const logger = createLogger("debug", (line) => logs.push(line));
  const clients = createClients(config, { backoffBaseMs: 5 });
  const server = createServer({ config, clients, logger });
  const client = new Client({ name: "users-mcp-tests", version: "1.0.0" });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(serverSide), client.connect(clientSide)]);
  await client.listTools(); // the SDK client validates structuredContent against schemas it has listed
  return {
    client,
    sandbox,
    config,
    logs,
    call: (name, args = {}) => client.callTool({ name, arguments: args }) as Promise<CallToolResult>,
    text: (result) => (result.content[0] as { text: string }).text,
    async close() {
      await client.close();
      await server.close();
      await clients.close();
      if (!options.shareSandbox) await sandbox.close();
    },
  };
}

export const SERVER = fileURLToPath(new URL("../dist/index.js", import.meta.url));

/** Starts the built server the way a host does, and records every byte it writes. */
export async function startServer(env: Record<string, string | undefined>, args: string[] = []) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [SERVER, ...args],
    env: { PATH: process.env.PATH ?? "", ...env } as Record<string, string>,
    stderr: "pipe",
  });
  const stderr: string[] = [];
  transport.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
  const stdoutLines: string[] = [];
  // Every message the client receives passed through the SDK's JSON-RPC parser; keep them to check.
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(transport);
  const onmessage = transport.onmessage;
  transport.onmessage = (m) => {
    stdoutLines.push(JSON.stringify(m));
    onmessage?.(m);
  };
  return { client, transport, stderr, stdoutLines };
}

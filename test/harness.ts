import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  type CallToolResult,
  type ElicitRequest,
  ElicitRequestSchema,
  type ElicitResult,
  type JSONRPCMessage,
  JSONRPCMessageSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { expect } from "vitest";
import { createClients } from "../src/client/index.js";
import { createLogger } from "../src/kernel/log.js";
import { setServerSecrets } from "../src/kernel/redact.js";
import { keepingReservedKeys } from "../src/mcp/arguments.js";
import { createRuntime, type Runtime } from "../src/mcp/runtime.js";
import { createServer } from "../src/mcp/server.js";
import { SANDBOX_CREDENTIALS, type Sandbox, type SandboxOptions, startSandbox } from "../src/sandbox/index.js";
import { type Config, loadConfig, secretsOf } from "../src/settings/config.js";

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
    // Every test's writes are recorded away from the machine's own audit log.
    USERS_MCP_AUDIT_LOG: join(ISOLATED_HOME, "audit.jsonl"),
    ...extra,
  };
}

export interface Harness {
  client: Client;
  sandbox: Sandbox;
  config: Config;
  runtime: Runtime;
  logs: string[];
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** The text of a result's first content block. */
  text(result: CallToolResult): string;
  close(): Promise<void>;
}

/** How a test's person answers a confirmation: the result to send, or never (a promise that does not settle). */
export type Answer = (request: ElicitRequest["params"]) => ElicitResult | Promise<ElicitResult>;

/** An SDK client; with `elicit`, one that declares form elicitation and answers with it, as Claude Code 2.1 does. */
export function makeClient(name: string, elicit?: Answer): Client {
  const client = new Client({ name, version: "1.0.0" }, elicit ? { capabilities: { elicitation: { form: {}, url: {} } } } : undefined);
  if (elicit) client.setRequestHandler(ElicitRequestSchema, async (request) => elicit(request.params));
  return client;
}

/**
 * The server in process, behind a real SDK client over linked in-memory transports, with its
 * clients talking real HTTP to a loopback sandbox.
 */
export async function startHarness(
  options: {
    env?: Record<string, string | undefined>;
    sandbox?: SandboxOptions;
    shareSandbox?: Sandbox;
    elicit?: Answer;
    /** Another harness whose write queues this one shares, as two servers of one process do. */
    shareQueues?: Harness;
  } = {},
): Promise<Harness> {
  const sandbox = options.shareSandbox ?? (await startSandbox(options.sandbox));
  const config = loadConfig(sandboxEnv(sandbox, options.env) as NodeJS.ProcessEnv);
  setServerSecrets(secretsOf(config));
  const logs: string[] = [];
  const logger = createLogger("debug", (line) => logs.push(line));
  const clients = createClients(config, { backoffBaseMs: 5 });
  const runtime: Runtime = createRuntime(config, logger, options.shareQueues ? { queuesOf: options.shareQueues.runtime } : {});
  const server = createServer({ runtime, clients });
  const client = makeClient("users-mcp-tests", options.elicit);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(keepingReservedKeys(serverSide)), client.connect(clientSide)]);
  await client.listTools(); // the SDK client validates structuredContent against schemas it has listed
  return {
    client,
    sandbox,
    config,
    runtime,
    logs,
    call: (name, args = {}) => client.callTool({ name, arguments: args }) as Promise<CallToolResult>,
    text: (result) => (result.content[0] as { text: string }).text,
    async close() {
      await client.close();
      await server.close();
      await clients.close();
      await runtime.close();
      if (!options.shareSandbox) await sandbox.close();
    },
  };
}

/** Waits until `check` holds, polling every 10 ms; fails after `ms`. */
export async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const SERVER = fileURLToPath(new URL("../dist/index.js", import.meta.url));

/**
 * A stdio client transport like the SDK's, that also keeps every byte the server writes to stdout,
 * so a test can check the stream itself rather than what a lenient parser made of it.
 */
export class RecordingStdioTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  readonly stdout: Buffer[] = [];
  readonly stderr: string[] = [];
  child: ChildProcessWithoutNullStreams | undefined;
  exitCode: number | null | undefined;
  private readonly buffer = new ReadBuffer({ maxBufferSize: 64 * 1024 * 1024 });

  constructor(
    private readonly args: string[],
    private readonly env: Record<string, string | undefined>,
    private readonly cwd?: string,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, this.args, {
      env: this.env as NodeJS.ProcessEnv,
      stdio: ["pipe", "pipe", "pipe"],
      ...(this.cwd ? { cwd: this.cwd } : {}),
    });
    this.child = child;
    child.stdout.on("data", (chunk: Buffer) => {
      this.stdout.push(chunk);
      this.buffer.append(chunk);
      for (;;) {
        let message: JSONRPCMessage | null;
        try {
          message = this.buffer.readMessage();
        } catch (err) {
          this.onerror?.(err as Error); // the line is gone from the buffer; stdoutProblems() reports it
          continue;
        }
        if (!message) break;
        this.onmessage?.(message);
      }
    });
    child.stderr.on("data", (d: Buffer) => this.stderr.push(d.toString()));
    child.stdin.on("error", () => {}); // a server that exited first is reported by the test, not as EPIPE
    child.on("close", (code) => {
      this.exitCode = code;
      this.onclose?.();
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    this.child?.stdin.write(serializeMessage(message));
  }

  /** Writes raw bytes to the server's stdin, for input no well-behaved client would send. */
  writeRaw(text: string): void {
    this.child?.stdin.write(text);
  }

  /** Ends stdin as a host does, and waits up to 3 s for the process to exit before killing it. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || this.exitCode !== undefined) return;
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
    child.stdin.end();
    const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
    await exited;
    clearTimeout(timer);
  }

  /** Every line the server wrote to stdout. */
  stdoutLines(): string[] {
    const text = Buffer.concat(this.stdout).toString("utf8");
    return text === "" ? [] : text.replace(/\n$/, "").split("\n");
  }

  /** What is wrong with stdout as a JSON-RPC stream: each line must be one JSON-RPC 2.0 message, newline-terminated. */
  stdoutProblems(): string[] {
    const text = Buffer.concat(this.stdout).toString("utf8");
    const problems: string[] = [];
    if (text !== "" && !text.endsWith("\n")) problems.push(`stdout ends without a newline: ${JSON.stringify(text.slice(-80))}`);
    for (const line of this.stdoutLines()) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        problems.push(`not JSON: ${JSON.stringify(line.slice(0, 120))}`);
        continue;
      }
      if (!JSONRPCMessageSchema.safeParse(parsed).success) problems.push(`not a JSON-RPC message: ${line.slice(0, 120)}`);
    }
    return problems;
  }
}

export interface StdioServer {
  client: Client;
  transport: RecordingStdioTransport;
  /** Everything the server wrote to stderr, chunk by chunk. */
  stderr: string[];
  stdoutLines(): string[];
  /** Closes the client and stdin, waits for the exit, and fails if stdout carried anything but JSON-RPC. */
  close(): Promise<void>;
}

/**
 * A private HOME and XDG directories for spawned servers, so no test reads or writes the settings,
 * state or audit log of the machine it runs on.
 */
export const ISOLATED_HOME = mkdtempSync(join(tmpdir(), "users-mcp-home-"));
export function isolatedEnv(): Record<string, string> {
  return {
    HOME: ISOLATED_HOME,
    XDG_CONFIG_HOME: join(ISOLATED_HOME, ".config"),
    XDG_STATE_HOME: join(ISOLATED_HOME, ".local", "state"),
  };
}

/** Starts the built server the way a host does, over stdio with the SDK's client, recording every byte it writes. */
export async function startServer(
  env: Record<string, string | undefined>,
  args: string[] = [],
  nodeArgs: string[] = [],
  options: { cwd?: string; elicit?: Answer } = {},
): Promise<StdioServer> {
  const transport = new RecordingStdioTransport(
    [...nodeArgs, SERVER, ...args],
    { PATH: process.env.PATH ?? "", ...isolatedEnv(), ...env },
    options.cwd,
  );
  const client = makeClient("e2e", options.elicit);
  await client.connect(transport);
  return {
    client,
    transport,
    stderr: transport.stderr,
    stdoutLines: () => transport.stdoutLines(),
    async close() {
      await client.close();
      await transport.close();
      expect(transport.stdoutProblems()).toEqual([]);
    },
  };
}

/** Runs the built CLI to its exit (no stdin), with an isolated HOME, and returns what it printed. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SERVER, ...args], {
      env: { PATH: process.env.PATH, ...isolatedEnv(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Codex (from npm, the version README names) in non-interactive mode (`codex exec`) against the built
 * server over HTTP, with the defaults (`--http`: USERS_MCP_CONFIRM=require). The model is a scripted
 * stand-in for the OpenAI Responses API on loopback: it calls update_compliance to withdraw SMS consent
 * and records what the tool answered. Codex speaks MCP 2025 and declares form elicitation, so the server
 * asks on the call's event stream; `codex exec` has nobody to show the question to and answers decline.
 * Nothing is written, and the model sees "declined". Run by `npm run test:hosts`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CODEX = "@openai/codex@0.171.0";
const SERVER = fileURLToPath(new URL("../dist/index.js", import.meta.url));

/** Runs a command with stdin closed (`codex exec` reads a piped stdin to its end), resolving with its output. */
function run(command: string, args: string[], options: { cwd: string; env: Record<string, string | undefined>; timeout: number }) {
  return new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.once("error", reject);
    child.once("close", (code) =>
      code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`${command} exited ${code}: ${stderr.slice(-2000)}`)),
    );
  });
}

let home: string;
let audit: string;
let http: ChildProcess | undefined;
const httpLog: string[] = [];
let model: Server;
/** What the scripted model was sent back as each tool's output. */
const toolOutputs: string[] = [];

type Item = { type?: string; call_id?: string; output?: unknown };
const event = (e: Record<string, unknown>) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
const usage = { input_tokens: 0, input_tokens_details: null, output_tokens: 0, output_tokens_details: null, total_tokens: 0 };

/**
 * The scripted model: once Codex lists the server's tools (its MCP tools arrive under the namespace
 * `mcp__users`), it calls update_compliance; when the output comes back, it ends the turn.
 */
function scriptedModel(req: { tools?: Array<{ name?: string }>; input?: Item[] }, n: number): string[] {
  const outputs = (req.input ?? []).filter((i) => i.type === "function_call_output");
  const answered = outputs.find((o) => o.call_id === "withdraw");
  const out = [event({ type: "response.created", response: { id: `r${n}` } })];
  if (answered) {
    toolOutputs.push(typeof answered.output === "string" ? answered.output : JSON.stringify(answered.output));
    out.push(
      event({
        type: "response.output_item.done",
        item: { type: "message", role: "assistant", id: `m${n}`, content: [{ type: "output_text", text: "Reported." }] },
      }),
    );
  } else if (!(req.tools ?? []).some((t) => t.name === "mcp__users")) {
    // The MCP server is still starting: a harmless call of Codex's own, so that the next turn lists it.
    out.push(
      event({
        type: "response.output_item.done",
        item: { type: "function_call", name: "list_mcp_resources", arguments: "{}", call_id: `wait${n}` },
      }),
    );
  } else {
    const args = JSON.stringify({ compliance: { acceptedSms: false } });
    out.push(
      event({
        type: "response.output_item.done",
        item: { type: "function_call", namespace: "mcp__users", name: "update_compliance", arguments: args, call_id: "withdraw" },
      }),
    );
  }
  out.push(event({ type: "response.completed", response: { id: `r${n}`, usage } }));
  return out;
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "users-mcp-codex-"));
  audit = join(home, "audit.jsonl");
  mkdirSync(join(home, ".codex"));
  let n = 0;
  model = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => {
      body += d.toString();
    });
    req.on("end", () => {
      if (req.method !== "POST" || !req.url?.endsWith("/responses")) return void res.writeHead(404).end();
      n += 1;
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const e of scriptedModel(JSON.parse(body), n)) res.write(e);
      res.end();
    });
  });
  await new Promise<void>((resolve) => model.listen(0, "127.0.0.1", resolve));
  http = spawn(process.execPath, [SERVER, "--http", "--port", "0", "--sandbox"], {
    env: { PATH: process.env.PATH, HOME: home, USERS_MCP_AUDIT_LOG: audit },
    stdio: ["ignore", "ignore", "pipe"],
  });
  http.stderr?.on("data", (d: Buffer) => httpLog.push(d.toString()));
  const end = Date.now() + 10_000;
  while (!/serving MCP over HTTP at \S+/.test(httpLog.join("")) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
});
afterAll(async () => {
  http?.kill("SIGTERM");
  await new Promise((r) => model?.close(r));
});

describe(`Codex ${CODEX.split("@")[2]}`, () => {
  it("`codex exec` over HTTP is asked on its call's stream and declines: nothing is written, and the model sees declined", async () => {
    const url = /serving MCP over HTTP at (\S+)/.exec(httpLog.join(""))?.[1];
    expect(url).toBeDefined();
    const base = `http://127.0.0.1:${(model.address() as AddressInfo).port}/v1`;
    const config = [
      "model_provider=stub",
      "model=scripted",
      'model_providers.stub.name="scripted model on loopback"',
      `model_providers.stub.base_url="${base}"`,
      'model_providers.stub.wire_api="responses"',
      `mcp_servers.users.url="${url}"`,
      // Codex's own approval of the tool call stands aside: the question is the server's to ask.
      'mcp_servers.users.default_tools_approval_mode="approve"',
      "approval_policy=never",
    ].flatMap((c) => ["-c", c]);
    const { stdout, stderr } = await run(
      "npm",
      ["exec", "--yes", `--package=${CODEX}`, "--", "codex", "exec", "--skip-git-repo-check", ...config, "Withdraw my SMS consent."],
      { cwd: home, env: { PATH: process.env.PATH, HOME: home, CODEX_HOME: join(home, ".codex") }, timeout: 150_000 },
    );
    expect(`${stdout}${stderr}`).toMatch(/mcp: users\/update_compliance \(completed\)/);
    // The model saw the declined result in the server's words.
    expect(toolOutputs).toHaveLength(1);
    expect(toolOutputs[0]).toContain(`"confirmation":"declined"`);
    expect(toolOutputs[0]).toContain("the question asking a person to confirm this change was declined");
    // The question went out and Codex's answer came back as a POST of its own; nothing was written.
    const lines = readFileSync(audit, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.phase, l.outcome, l.confirmation])).toEqual([["outcome", "declined", "declined"]]);
    expect(lines[0]?.client).toMatchObject({ name: expect.stringMatching(/codex/i) });
    // One JSON line per HTTP request (after the log's own prefix).
    const requests = httpLog
      .join("")
      .split("\n")
      .map((l) => /\{"time".*\}$/.exec(l)?.[0])
      .filter((l) => l !== undefined)
      .map((l) => JSON.parse(l) as { method?: string; protocol?: string; status?: number });
    expect(requests).toContainEqual(expect.objectContaining({ method: "answer", status: 202 }));
    expect(requests).toContainEqual(expect.objectContaining({ method: "initialize", protocol: expect.stringMatching(/^2025-/) }));
  });
});

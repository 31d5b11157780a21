/**
 * Claude Code (from npm, the version README names) adds the built server on stdio and over HTTP, and
 * `claude mcp list` connects to both. The server's debug log shows which protocol generation Claude
 * Code negotiated: MCP 2026-07-28 through `server/discover`. Run by `npm run test:hosts`.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonLines } from "../test/http-harness.js";

const CLAUDE_CODE = "@anthropic-ai/claude-code@2.1.332";
const SERVER = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const run = promisify(execFile);

let home: string;
let project: string;
let http: ChildProcess | undefined;
const httpLog: string[] = [];

/** `claude <args>` with its own HOME (its config lives there), offline apart from the MCP servers. */
async function claude(...args: string[]): Promise<string> {
  const { stdout, stderr } = await run("npm", ["exec", "--yes", `--package=${CLAUDE_CODE}`, "--", "claude", ...args], {
    cwd: project,
    env: { PATH: process.env.PATH, HOME: home, DISABLE_AUTOUPDATER: "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" },
    timeout: 150_000,
  });
  return `${stdout}${stderr.replace(/^npm (warn|notice).*\n?/gm, "")}`;
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "users-mcp-claude-"));
  project = join(home, "project");
  mkdirSync(project);
  http = spawn(process.execPath, [SERVER, "--http", "--port", "0", "--sandbox"], {
    env: { PATH: process.env.PATH, HOME: home, USERS_MCP_LOG_LEVEL: "debug" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  http.stderr?.on("data", (d: Buffer) => httpLog.push(d.toString()));
  const end = Date.now() + 10_000;
  while (!/serving MCP over HTTP at \S+/.test(httpLog.join("")) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
});
afterAll(() => {
  http?.kill("SIGTERM");
});

describe(`Claude Code ${CLAUDE_CODE.split("@")[2]}`, () => {
  it("connects over stdio and over HTTP with `claude mcp list`, negotiating MCP 2026-07-28 on both", async () => {
    const url = /serving MCP over HTTP at (\S+)/.exec(httpLog.join(""))?.[1];
    expect(url).toBeDefined();
    const stdioLog = join(home, "stdio.log");
    const command = `USERS_MCP_LOG_LEVEL=debug exec "${process.execPath}" "${SERVER}" --sandbox 2>>"${stdioLog}"`;
    await claude("mcp", "add", "-s", "user", "users-stdio", "--", "sh", "-c", command);
    await claude("mcp", "add", "-s", "user", "--transport", "http", "users-http", url as string);
    const listed = await claude("mcp", "list");
    expect(listed).toMatch(/users-stdio: .* - ✔ Connected/);
    expect(listed).toMatch(/users-http: .*\(HTTP\) - ✔ Connected/);
    // What each side negotiated, from the server's own debug log.
    expect(readFileSync(stdioLog, "utf8")).toContain("protocol 2026-07-28 (server/discover)");
    const requests = jsonLines(httpLog) as { method?: string; protocol?: string; status?: number }[];
    expect(requests).toContainEqual(expect.objectContaining({ method: "server/discover", protocol: "2026-07-28", status: 200 }));
    expect(requests).toContainEqual(expect.objectContaining({ method: "tools/list", protocol: "2026-07-28", status: 200 }));
  });
});

import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { isolatedEnv, SERVER, sandboxEnv } from "./harness.js";

// The start-up path of the built server, as files: what initialize and tools/list load must stay the
// entry and one chunk (plus the bundler's small runtime helpers), so that a host's start does not pay for
// the write path, the audit stores, pg, OAuth, the clients or error explanations. A module hook reports
// every file the process loads; the test reads them between the answers.
const HOOK = `data:text/javascript,${encodeURIComponent(
  'import { register } from "node:module"; register("data:text/javascript," + encodeURIComponent(' +
    JSON.stringify(
      'export async function load(url, context, next) { if (url.startsWith("file:")) process._rawDebug("LOADED " + url); return next(url, context); }',
    ) +
    "));",
)}`;

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});

/** Runs the server, sends each message once the previous one is answered, and returns the files loaded by each answer. */
async function filesPerAnswer(messages: object[]): Promise<string[][]> {
  const child = spawn(process.execPath, ["--import", HOOK, SERVER], {
    env: { PATH: process.env.PATH, ...isolatedEnv(), ...sandboxEnv(sandbox) },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const loaded: string[] = [];
  child.stderr.on("data", (d: Buffer) => {
    for (const m of d.toString().matchAll(/LOADED file:\/\/\S+\/dist\/(\S+)/g)) loaded.push(m[1] as string);
  });
  const perAnswer: string[][] = [];
  let out = "";
  for (const message of messages) {
    const id = (message as { id?: number }).id;
    child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", ...message })}\n`);
    if (id === undefined) continue;
    await new Promise<void>((resolve) => {
      const look = (d: Buffer) => {
        out += d.toString();
        if (out.includes(`"id":${id},`) || out.includes(`"id":${id}}`)) {
          child.stdout.off("data", look);
          resolve();
        }
      };
      child.stdout.on("data", look);
    });
    perAnswer.push([...new Set(loaded)].sort());
  }
  child.stdin.end();
  await new Promise((r) => child.once("close", r));
  return perAnswer;
}

const initialize = {
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "startup-path", version: "1" } },
};
const START = [/^index\.js$/, /^chunks\/serve-[\w-]+\.js$/, /^chunks\/rolldown-runtime-[\w-]+\.js$/];
const onStartPath = (file: string) => START.some((re) => re.test(file));

describe("the start-up path of the built server", () => {
  it("answers initialize and tools/list from the entry and one chunk; the first call loads the rest", async () => {
    const [atInitialize, atList, atCall] = await filesPerAnswer([
      initialize,
      { method: "notifications/initialized" },
      { id: 2, method: "tools/list" },
      { id: 3, method: "tools/call", params: { name: "get_current_user", arguments: {} } },
    ]);
    expect(atInitialize?.filter((f) => !onStartPath(f))).toEqual([]);
    expect(atInitialize).toContain("index.js");
    expect(atInitialize?.some((f) => f.startsWith("chunks/serve-"))).toBe(true);
    // tools/list is answered before anything else loads (the call path is fetched after the answer).
    expect(atList?.filter((f) => !onStartPath(f))).toEqual([]);
    // The check can fail: the call path is real chunks, loaded once a call needs them.
    expect(atCall?.filter((f) => !onStartPath(f)).length).toBeGreaterThan(3);
    expect(atCall?.some((f) => f.startsWith("chunks/call-"))).toBe(true);
  });
});

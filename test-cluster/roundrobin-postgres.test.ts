/**
 * Two replicas sharing PostgreSQL behind HAProxy with plain round-robin (deploy/haproxy-roundrobin.cfg),
 * on loopback: parallel edits of one record from both replicas all land, and the database stopped and
 * started mid-run costs refused writes (named, nothing sent), never a lost or doubled change.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module shared with the bench, without types
import { startPostgres } from "../scripts/postgres.mjs";
import { SANDBOX_CREDENTIALS, type Sandbox, startSandbox } from "../src/sandbox/index.js";

const SERVER = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const HAPROXY_CFG = fileURLToPath(new URL("../deploy/haproxy-roundrobin.cfg", import.meta.url));
const TOKEN = "cluster-endpoint-token-0123456789";

interface Pg {
  database(name?: string): string;
  stop(): void;
  start(): void;
  destroy(): void;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
const spawnQuiet = (command: string, args: string[], env: Record<string, string | undefined>) =>
  spawn(command, args, { env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin`, ...env }, stdio: ["ignore", "ignore", "pipe"] });

let pg: Pg;
let sandbox: Sandbox;
const procs: ChildProcess[] = [];
let url: string;

beforeAll(async () => {
  [pg, sandbox] = await Promise.all([startPostgres() as Promise<Pg>, startSandbox({ leadpingRateLimit: 1e9 })]);
  const database = pg.database("cluster");
  const env: Record<string, string> = {};
  for (const i of [1, 2]) {
    const port = await freePort();
    procs.push(
      spawnQuiet(process.execPath, [SERVER, "--http", "--port", String(port)], {
        HOME: "/nonexistent",
        LEADPING_BASE_URL: sandbox.baseUrls.leadping,
        LEADPING_API_TOKEN: SANDBOX_CREDENTIALS.leadpingToken,
        USERS_MCP_HTTP_TOKEN: TOKEN,
        USERS_MCP_DATABASE_URL: database,
        USERS_MCP_LOG_LEVEL: "warn",
      }),
    );
    env[`USERS_MCP_REPLICA${i}`] = `127.0.0.1:${port}`;
  }
  const listen = await freePort();
  env.USERS_MCP_LISTEN = `127.0.0.1:${listen}`;
  url = `http://127.0.0.1:${listen}/mcp`;
  procs.push(spawnQuiet("haproxy", ["-f", HAPROXY_CFG, "-db"], env));
  const end = Date.now() + 20_000;
  for (;;) {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await call("get_current_user", {}).catch(() => undefined);
      if (r && !r.result?.isError) seen.add(r.replica);
    }
    if (seen.size === 2) break;
    if (Date.now() > end) throw new Error("HAProxy and two replicas did not come up");
    await new Promise((r) => setTimeout(r, 200));
  }
});
afterAll(async () => {
  for (const p of procs) p.kill("SIGTERM");
  pg?.destroy();
  await sandbox?.close();
});

async function call(name: string, args: Record<string, unknown>) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      authorization: `Bearer ${TOKEN}`,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } }),
    signal: AbortSignal.timeout(20_000),
  });
  const body = (await res.json()) as { result?: { isError?: boolean; content: Array<{ text: string }> } };
  return { status: res.status, replica: res.headers.get("x-users-mcp-replica") ?? "?", result: body.result };
}
const states = () =>
  (sandbox.state.leadping.userFor(SANDBOX_CREDENTIALS.leadpingToken)?.compliance as { licensedStates?: string[] } | undefined)
    ?.licensedStates ?? [];

describe("two replicas sharing PostgreSQL behind round-robin HAProxy", () => {
  it("8 parallel list edits to one record, spread over both replicas, all land", async () => {
    const add = ["MA", "MD", "MI", "MN", "MS", "MO", "NC", "ND"];
    const results = await Promise.all(add.map((s) => call("update_compliance", { compliance: { licensedStates: { add: [s] } } })));
    for (const r of results) expect(r.result?.isError, r.result?.content[0]?.text).toBeFalsy();
    expect(new Set(results.map((r) => r.replica)).size).toBe(2);
    expect(states()).toEqual(expect.arrayContaining(add));
  });

  it("the database stopped and started mid-run: every call answers, refused writes say why, applied ones all land", async () => {
    const applied: string[] = [];
    const refused: string[] = [];
    const run = (async () => {
      for (let i = 0; i < 30; i++) {
        const s = `Z${i}`;
        const r = await call("update_compliance", { compliance: { licensedProducts: { add: [s] } } });
        expect(r.status).toBe(200);
        if (r.result?.isError) refused.push(r.result.content[0]?.text ?? "");
        else applied.push(s);
        await new Promise((resolve) => setTimeout(resolve, 60));
      }
    })();
    await new Promise((r) => setTimeout(r, 400));
    pg.stop();
    await new Promise((r) => setTimeout(r, 700));
    pg.start();
    await run;
    expect(refused.length).toBeGreaterThan(0);
    for (const text of refused) expect(text).toMatch(/database \(USERS_MCP_DATABASE_URL\)|PostgreSQL/);
    const products = (
      sandbox.state.leadping.userFor(SANDBOX_CREDENTIALS.leadpingToken)?.compliance as { licensedProducts?: string[] } | undefined
    )?.licensedProducts;
    expect(products).toEqual(expect.arrayContaining(applied));
    // After the outage, writes go through on both replicas without a restart.
    const after = await Promise.all(
      [1, 2, 3, 4].map((i) => call("update_compliance", { compliance: { licensedProducts: { add: [`AFTER${i}`] } } })),
    );
    for (const r of after) expect(r.result?.isError, r.result?.content[0]?.text).toBeFalsy();
  });
});

describe("a person's answer on the other replica (MCP 2025 over HTTP, the SDK's 1.x client)", () => {
  it("the question goes out on the call's stream, its answer lands on the other replica, and the write completes once", async () => {
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const { StreamableHTTPClientTransport } = await import("@modelcontextprotocol/sdk/client/streamableHttp.js");
    const { ElicitRequestSchema } = await import("@modelcontextprotocol/sdk/types.js");
    // Which replica took each POST: the tool call, and the answer to the question asked on its stream.
    const posts: Array<{ kind: "call" | "answer" | "other"; replica: string }> = [];
    const recording = async (input: string | URL | Request, init?: RequestInit) => {
      const res = await fetch(input, init);
      const body = typeof init?.body === "string" ? (JSON.parse(init.body) as { method?: string; result?: unknown }) : {};
      const kind = body.method === "tools/call" ? "call" : body.result !== undefined ? "answer" : "other";
      if (init?.method === "POST") posts.push({ kind, replica: res.headers.get("x-users-mcp-replica") ?? "?" });
      return res;
    };
    const client = new Client({ name: "sdk-1x-host", version: "1.32.2" }, { capabilities: { elicitation: { form: {} } } });
    let asked = 0;
    client.setRequestHandler(ElicitRequestSchema, () => {
      asked += 1;
      return { action: "accept", content: { confirm: true } };
    });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } }, fetch: recording }),
    );
    const puts = () => sandbox.requestsTo("leadping", "PUT").length;
    const consent = () =>
      (sandbox.state.leadping.userFor(SANDBOX_CREDENTIALS.leadpingToken)?.compliance as { acceptedSms?: boolean } | undefined)?.acceptedSms;
    let crossed = 0;
    try {
      // Round-robin decides where each POST goes; a few withdrawals are enough for an answer to cross.
      for (let round = 0; round < 4 && crossed === 0; round++) {
        await client.callTool({ name: "update_compliance", arguments: { compliance: { acceptedSms: true } } });
        expect(consent()).toBe(true);
        posts.length = 0;
        const before = puts();
        const r = (await client.callTool({ name: "update_compliance", arguments: { compliance: { acceptedSms: false } } })) as {
          isError?: boolean;
          structuredContent?: Record<string, unknown>;
          content: Array<{ text: string }>;
        };
        expect(r.isError, r.content[0]?.text).toBeFalsy();
        expect(r.structuredContent).toMatchObject({ applied: true, confirmation: "accepted" });
        expect(puts() - before).toBe(1); // written once
        expect(consent()).toBe(false);
        const call = posts.find((p) => p.kind === "call");
        const answer = posts.find((p) => p.kind === "answer");
        expect(call && answer, JSON.stringify(posts)).toBeTruthy();
        if (call?.replica !== answer?.replica) crossed += 1;
      }
      expect(crossed, "no answer landed on the other replica in 4 rounds").toBe(1);
      expect(asked).toBeGreaterThanOrEqual(1);
    } finally {
      await client.close();
    }
  });
});

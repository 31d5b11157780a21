/**
 * Three replicas of the built server (--http, caller credentials) behind HAProxy with the project's
 * own deploy/haproxy.cfg, all on loopback, against the in-process sandbox. Run by `npm run test:cluster`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SANDBOX_CREDENTIALS, type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { modernPost } from "../test/http-harness.js";

const SERVER = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const HAPROXY_CFG = fileURLToPath(new URL("../deploy/haproxy.cfg", import.meta.url));
const TOKEN = "cluster-endpoint-token-0123456789";
const TENANT_A = SANDBOX_CREDENTIALS.leadpingToken;
const TENANT_B = SANDBOX_CREDENTIALS.leadpingLegacyToken;

interface Proc {
  child: ChildProcess;
  out: string[];
  exited: boolean;
}

function start(command: string, args: string[], env: Record<string, string | undefined>): Proc {
  // Debian puts haproxy in /usr/sbin, which a non-root PATH may lack.
  const child = spawn(command, args, { env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin`, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const p: Proc = { child, out: [], exited: false };
  child.stdout?.on("data", (d: Buffer) => p.out.push(d.toString()));
  child.stderr?.on("data", (d: Buffer) => p.out.push(d.toString()));
  child.on("exit", () => {
    p.exited = true;
  });
  return p;
}

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let sandbox: Sandbox;
const replicas: Array<Proc & { port: number; name: string }> = [];
let haproxy: Proc;
let url: string;

beforeAll(async () => {
  sandbox = await startSandbox({ leadpingRateLimit: 1_000_000, leadconnectorRateLimit: 1_000_000 });
  const state = mkdtempSync(join(tmpdir(), "users-mcp-cluster-"));
  for (const name of ["r1", "r2", "r3"]) {
    const port = await freePort();
    const p = start(process.execPath, [SERVER, "--http", "--port", String(port)], {
      HOME: state,
      LEADPING_BASE_URL: sandbox.baseUrls.leadping,
      LEADCONNECTOR_BASE_URL: sandbox.baseUrls.leadconnector,
      TWOSMS_BASE_URL: sandbox.baseUrls.twosms,
      USERS_MCP_HTTP_CREDENTIALS: "caller",
      USERS_MCP_HTTP_TOKEN: TOKEN,
      USERS_MCP_PREVIEW_KEY: "a-preview-key-shared-by-every-replica-0123",
      USERS_MCP_AUDIT_LOG: join(state, `${name}-audit.jsonl`),
      USERS_MCP_CONFIRM: "ask",
      USERS_MCP_LOG_LEVEL: "warn",
    });
    replicas.push(Object.assign(p, { port, name })); // the same object: its `exited` is kept up to date
  }
  const listen = await freePort();
  url = `http://127.0.0.1:${listen}/mcp`;
  const env: Record<string, string> = { USERS_MCP_LISTEN: `127.0.0.1:${listen}` };
  replicas.forEach((r, i) => {
    env[`USERS_MCP_REPLICA${i + 1}`] = `127.0.0.1:${r.port}`;
  });
  haproxy = start("haproxy", ["-f", HAPROXY_CFG, "-db"], env);
  // Every replica up and healthy as HAProxy sees it: each answers through it.
  await until(
    async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 9; i++) {
        const res = await rpc({ jsonrpc: "2.0", id: 1, method: "tools/list" }).catch(() => undefined);
        if (res?.status === 200) seen.add(res.replica);
      }
      return seen.size === 3;
    },
    20_000,
    `HAProxy and three replicas (${haproxy.out.join("")} ${replicas.map((r) => r.out.join("")).join(" ")})`,
  );
});

afterAll(async () => {
  haproxy?.child.kill("SIGTERM");
  for (const r of replicas) if (!r.exited) r.child.kill("SIGTERM");
  await until(() => replicas.every((r) => r.exited) && (haproxy?.exited ?? true), 30_000, "processes to exit").catch(() => {});
  await sandbox?.close();
});

/** One JSON-RPC call through HAProxy (stateless: no initialize needed), with a tenant's headers. */
async function rpc(message: unknown, tenant?: string): Promise<{ status: number; replica: string; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      authorization: `Bearer ${TOKEN}`,
      ...(tenant ? { "x-leadping-token": tenant } : {}),
    },
    body: JSON.stringify(message),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { raw: text };
  }
  return { status: res.status, replica: res.headers.get("x-users-mcp-replica") ?? "?", body };
}

/** One MCP 2026-07-28 tools/call through HAProxy, with a tenant's credential header. */
async function modernCall(params: { name: string } & Record<string, unknown>, tenant: string) {
  const r = await modernPost(url, "tools/call", params, { authorization: `Bearer ${TOKEN}`, "x-leadping-token": tenant });
  return { status: r.status, replica: r.headers.get("x-users-mcp-replica") ?? "?", body: r.body as Record<string, unknown> };
}

const call = (tool: string, args: Record<string, unknown>, tenant?: string, id = 1) =>
  rpc({ jsonrpc: "2.0", id, method: "tools/call", params: { name: tool, arguments: args } }, tenant);
const ok = (r: { status: number; body: Record<string, unknown> }) =>
  r.status === 200 && (r.body.result as { isError?: boolean } | undefined)?.isError !== true;

describe("three replicas behind HAProxy", () => {
  it("spreads calls without tenant headers round-robin over all replicas, and every one succeeds", async () => {
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => rpc({ jsonrpc: "2.0", id: i, method: "tools/list" })));
    for (const r of results) expect(r.status).toBe(200);
    const per = new Map<string, number>();
    for (const r of results) per.set(r.replica, (per.get(r.replica) ?? 0) + 1);
    expect([...per.keys()].sort()).toEqual(["r1", "r2", "r3"]);
    for (const n of per.values()) expect(n).toBeGreaterThanOrEqual(5);
  });

  it("keeps each tenant on one replica, and two tenants' parallel list edits all land", async () => {
    const a = ["CA", "NY", "FL", "WA", "OR", "ID", "MT", "WY"];
    const b = ["NV", "AZ", "UT", "CO", "NM", "KS", "NE", "SD"];
    const results = await Promise.all([
      ...a.map((s, i) => call("update_compliance", { compliance: { licensedStates: { add: [s] } } }, TENANT_A, i)),
      ...b.map((s, i) => call("update_compliance", { compliance: { licensedStates: { add: [s] } } }, TENANT_B, 100 + i)),
    ]);
    for (const r of results) expect(ok(r), JSON.stringify(r.body).slice(0, 300)).toBe(true);
    expect(new Set(results.slice(0, a.length).map((r) => r.replica)).size).toBe(1);
    expect(new Set(results.slice(a.length).map((r) => r.replica)).size).toBe(1);
    const states = (token: string) =>
      (sandbox.state.leadping.userFor(token)?.compliance as { licensedStates?: string[] } | undefined)?.licensedStates ?? [];
    expect(states(TENANT_A)).toEqual(expect.arrayContaining(a));
    expect(states(TENANT_B)).toEqual(expect.arrayContaining(b));
    expect(states(TENANT_A)).not.toContain("NV");
  });

  it("an MCP 2026-07-28 confirmation asked on one replica is answered on another (a shared USERS_MCP_PREVIEW_KEY)", async () => {
    const withdraw = { name: "update_compliance", arguments: { compliance: { acceptedTerms: false } } };
    const first = await modernCall(withdraw, TENANT_B);
    expect(first.status).toBe(200);
    const result = first.body.result as { resultType?: string; requestState?: string };
    expect(result.resultType).toBe("input_required");
    // The replica that asked goes away (draining, then gone); the retry lands on another one.
    const asked = replicas.find((r) => r.name === first.replica);
    asked?.child.kill("SIGTERM");
    await until(
      async () => {
        const ready = await fetch(`http://127.0.0.1:${asked?.port}/readyz`).catch(() => undefined);
        return ready === undefined || ready.status === 503;
      },
      10_000,
      "the asking replica to start draining",
    );
    const retry = await modernCall(
      { ...withdraw, inputResponses: { confirm: { action: "accept", content: { confirm: true } } }, requestState: result.requestState },
      TENANT_B,
    );
    expect(retry.status).toBe(200);
    expect(retry.replica).not.toBe(first.replica);
    expect((retry.body.result as { structuredContent?: unknown }).structuredContent).toMatchObject({
      applied: true,
      confirmation: "accepted",
    });
    const compliance = sandbox.state.leadping.userFor(TENANT_B)?.compliance as { acceptedTerms?: boolean } | undefined;
    expect(compliance?.acceptedTerms).toBe(false);
    await until(() => asked?.child.exitCode !== null, 20_000, "the asking replica to exit");
  });

  it("when a tenant's replica is killed mid-run, every call answers, and after failover all succeed", async () => {
    const home = (await call("get_current_user", {}, TENANT_A)).replica;
    const victim = replicas.find((r) => r.name === home);
    expect(victim).toBeDefined();
    const answered: Array<{ status: number; replica: string; ok: boolean }> = [];
    const failures: string[] = [];
    // Calls in flight across the kill: each must come back with an answer, not hang or drop.
    const run = (async () => {
      for (let i = 0; i < 40; i++) {
        try {
          const r = await call("update_compliance", { compliance: { licensedProducts: { add: [`P${i}`] } } }, TENANT_A, i);
          answered.push({ status: r.status, replica: r.replica, ok: ok(r) });
        } catch (err) {
          failures.push(`${String(err)} ${String((err as { cause?: unknown }).cause)}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await until(() => answered.length >= 8, 10_000, "calls before the kill");
    victim?.child.kill("SIGKILL");
    await run;
    expect(failures).toEqual([]);
    expect(answered).toHaveLength(40);
    // After failover the tenant lives on another replica, and every call there succeeds.
    const after = [];
    for (let i = 0; i < 10; i++) after.push(await call("get_current_user", {}, TENANT_A, 500 + i));
    for (const r of after) {
      expect(ok(r), JSON.stringify(r.body).slice(0, 200)).toBe(true);
      expect(r.replica).not.toBe(home);
    }
    expect(new Set(after.map((r) => r.replica)).size).toBe(1);
    // Most of the run succeeded: at most the calls that were inside the dead process are lost.
    expect(answered.filter((r) => r.ok).length).toBeGreaterThanOrEqual(35);
  });
});

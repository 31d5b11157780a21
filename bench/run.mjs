// Benchmarks: cold start, per-call overhead and memory of this server against baselines measured in
// the same run on the same machine, so the ratios mean something on a shared, noisy box.
//
//   (a) bare     a node script that answers one JSON-RPC line
//   (b) sdk      a minimal one-tool SDK 1.x stdio server (bench/fixtures/sdk-one-tool.mjs), bundled
//   (b2) sdk2    the same on the SDK's v2 line, which ours is built on (bench/fixtures/sdk2-one-tool.mjs), bundled
//   (c) ours     dist/index.js
//   direct       the same upstream request made with undici in this process
//
// The floors make the upstream request with the platform fetch and are bundled with rolldown, the
// bundler of this server's own build (bench/floors.mjs, into bench/build/): a careful one-tool server
// ships that way, and an unbundled floor (hundreds of files read at start-up) would flatter the ratios.
//
// npm run bench [-- --quick] [-- --strict] [-- --only cold,calls,memory,writes,undo,remote,callers]
// (needs a build: npm run bench builds first). On Node 24: npm exec --yes --package=node@24 -- node bench/run.mjs
// Prints a table and writes bench/results/latest.json and bench/results/<date>-node<major>.json.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { Agent, request } from "undici";
import { SANDBOX_CREDENTIALS, startSandbox } from "../dist/sandbox/index.js";
import { postgresBin, startPostgres } from "../scripts/postgres.mjs";
import { buildFloors, FLOORS } from "./floors.mjs";
import { listTools, toolBytes } from "./tool-bytes.mjs";

const args = new Set(process.argv.slice(2));
const QUICK = args.has("--quick");
const STRICT = args.has("--strict");
const onlyAt = process.argv.indexOf("--only");
const ONLY = onlyAt > 0 ? new Set(process.argv[onlyAt + 1].split(",")) : undefined;
const part = (name) => !ONLY || ONLY.has(name);
const COLD_RUNS = QUICK ? 10 : 30;
const SEQ_CALLS = QUICK ? 300 : 2000;
const CONC_CALLS = QUICK ? 1000 : 5000;
const CONCURRENCY = 64;
const ROUNDS = QUICK ? 1 : 5;
const MEMORY_CALLS = QUICK ? 2000 : 10_000;
const WRITE_CALLS = QUICK ? 200 : 1000;
const WRITERS = 16;
const CALLERS = QUICK ? 1000 : 5000;
const UNDO_RECORDS = 100_000;
const UNDO_CALLS = QUICK ? 50 : 200;

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
await buildFloors();
const SERVERS = {
  bare: here("./fixtures/bare.mjs"),
  sdk: FLOORS.sdk,
  sdk2: FLOORS.sdk2,
  ours: here("../dist/index.js"),
};
/** Node's module compile cache (Node >= 22.1), which users-mcp turns on: cold start is measured with and without it. */
const COMPILE_CACHE = typeof (await import("node:module")).enableCompileCache === "function";
const cacheDir = mkdtempSync(join(tmpdir(), "users-mcp-compile-cache-"));
const WITH_CACHE = { NODE_COMPILE_CACHE: cacheDir };

const sandbox = await startSandbox({ leadpingRateLimit: 1e12, leadconnectorRateLimit: 1e12, keepAliveTimeoutMs: 600_000 });
sandbox.requests.push = () => 0; // the stand-in keeps no log during a benchmark
const env = {
  PATH: process.env.PATH ?? "",
  LEADPING_BASE_URL: sandbox.baseUrls.leadping,
  LEADPING_API_TOKEN: SANDBOX_CREDENTIALS.leadpingToken,
  LEADCONNECTOR_BASE_URL: sandbox.baseUrls.leadconnector,
  LEADCONNECTOR_TOKEN: SANDBOX_CREDENTIALS.leadconnectorToken,
  TWOSMS_BASE_URL: sandbox.baseUrls.twosms,
  TWOSMS_CLIENT_ID: SANDBOX_CREDENTIALS.twosmsClientId,
  TWOSMS_CLIENT_SECRET: SANDBOX_CREDENTIALS.twosmsClientSecret,
  USERS_MCP_LOG_LEVEL: "warn",
};

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => quantile(xs, 0.5);
const log = (line) => process.stderr.write(`${line}\n`);

// ---- cold start: spawn -> initialize response ----

/** Milliseconds from spawn to the initialize response, and to the first tools/list response. */
function coldStart(script, withList, extraEnv = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [script], { env: { ...env, ...extraEnv }, stdio: ["pipe", "pipe", "ignore"] });
    let out = "";
    let initMs;
    const send = (m) => child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", ...m })}\n`);
    child.stdout.on("data", (d) => {
      out += d;
      const lines = out.split("\n").slice(0, -1);
      if (initMs === undefined && lines.length >= 1) {
        initMs = Number(process.hrtime.bigint() - started) / 1e6;
        if (!lines[0].includes('"id":1')) reject(new Error(`unexpected first line from ${script}: ${out.slice(0, 200)}`));
        if (!withList) return finish({ initMs });
        send({ method: "notifications/initialized" });
        send({ id: 2, method: "tools/list" });
      } else if (withList && lines.length >= 2) {
        if (!lines[1].includes('"tools"')) reject(new Error(`unexpected tools/list answer from ${script}: ${lines[1].slice(0, 200)}`));
        finish({ initMs, listMs: Number(process.hrtime.bigint() - started) / 1e6 });
      }
    });
    const finish = (times) => {
      child.stdout.removeAllListeners("data");
      child.once("close", () => resolve(times));
      child.stdin.end();
    };
    child.on("error", reject);
    send({
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "bench", version: "1" } },
    });
  });
}

async function coldStarts() {
  const init = { bare: [], sdk: [], sdk2: [], ours: [], ...(COMPILE_CACHE ? { oursUncached: [] } : {}) };
  const list = { sdk: [], sdk2: [], ours: [] };
  const names = Object.keys(init);
  const script = (name) => SERVERS[name === "oursUncached" ? "ours" : name];
  // users-mcp as shipped uses Node's compile cache (a directory of this run's own here); the same without it.
  const extra = (name) => (name === "oursUncached" ? { NODE_DISABLE_COMPILE_CACHE: "1" } : name === "ours" ? WITH_CACHE : {});
  for (const name of names) await coldStart(script(name), name !== "bare", extra(name)); // warm the file cache (and the compile cache)
  for (let i = 0; i < COLD_RUNS; i++) {
    // Interleaved, rotating the order so no server always runs first after an idle moment.
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length];
      const t = await coldStart(script(name), name !== "bare" && name !== "oursUncached", extra(name));
      init[name].push(t.initMs);
      if (t.listMs !== undefined) list[name].push(t.listMs);
    }
  }
  const stats = (xs) => ({ median: median(xs), p90: quantile(xs, 0.9), runs: xs.length });
  return {
    ...Object.fromEntries(names.map((n) => [n, stats(init[n])])),
    toolsList: Object.fromEntries(Object.entries(list).map(([n, xs]) => [n, stats(xs)])),
  };
}

// ---- per call ----

async function connect(script) {
  const transport = new StdioClientTransport({ command: process.execPath, args: [script], env, stderr: "ignore" });
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(transport);
  return { client, transport, pid: transport.pid };
}

async function timeCalls(call) {
  for (let i = 0; i < 200; i++) await call(); // warm-up: JIT, connection pool
  const lat = [];
  for (let i = 0; i < SEQ_CALLS; i++) {
    const t = process.hrtime.bigint();
    await call();
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < CONC_CALLS) await call();
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), throughput: CONC_CALLS / seconds };
}

const check = (result) => {
  if (result.isError) throw new Error(`tool call failed: ${JSON.stringify(result.content)}`);
};

async function perCall() {
  const agent = new Agent({ connections: 16 });
  const direct = async () => {
    const res = await request(`${sandbox.baseUrls.leadping}/users/me`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${SANDBOX_CREDENTIALS.leadpingToken}`, accept: "application/json" },
    });
    await res.body.json();
  };
  const rounds = { direct: [], sdk: [], sdk2: [], ours: [] };
  for (let r = 0; r < ROUNDS; r++) {
    rounds.direct.push(await timeCalls(direct));
    for (const name of r % 2 === 0 ? ["sdk", "sdk2", "ours"] : ["ours", "sdk2", "sdk"]) {
      const { client } = await connect(SERVERS[name]);
      rounds[name].push(await timeCalls(async () => check(await client.callTool({ name: "get_current_user", arguments: {} }))));
      await client.close();
    }
  }
  await agent.close();
  const summary = (rs) => ({
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    throughput: median(rs.map((r) => r.throughput)),
  });
  return Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, summary(v)]));
}

// ---- memory ----

function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return kb * 1024;
}

/** RSS after start, after MEMORY_CALLS calls (the target) and after twice as many (20,000: the steady state). */
async function memory(script) {
  const { client, pid } = await connect(script);
  check(await client.callTool({ name: "get_current_user", arguments: {} }));
  await new Promise((r) => setTimeout(r, 200));
  const afterStart = rssOf(pid);
  const drive = async (total) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < total) check(await client.callTool({ name: "get_current_user", arguments: {} }));
      }),
    );
    await new Promise((r) => setTimeout(r, 200));
    return rssOf(pid);
  };
  const afterCalls = await drive(MEMORY_CALLS);
  const afterMoreCalls = await drive(MEMORY_CALLS);
  await client.close();
  return { afterStart, afterCalls, afterMoreCalls };
}

// ---- writes: the write pipeline (per-record queue, audit fsync) against the same write without a log ----

const auditDir = mkdtempSync(join(tmpdir(), "users-mcp-bench-"));

async function connectWith(extra) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [SERVERS.ours],
    env: { ...env, USERS_MCP_CONFIRM: "off", ...extra },
    stderr: "ignore",
  });
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(transport);
  return client;
}

/** Sequential update_user p50 (each call a real change), and same-record throughput under WRITERS parallel writers. */
async function writes(extra) {
  const client = await connectWith(extra);
  let n = 0;
  const rename = async () =>
    check(await client.callTool({ name: "update_user", arguments: { userId: "0IHuJvc2ofPAAA8GzTRi", firstName: `J${n++}` } }));
  for (let i = 0; i < 50; i++) await rename();
  const lat = [];
  for (let i = 0; i < WRITE_CALLS; i++) {
    const t = process.hrtime.bigint();
    await rename();
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  // Same record, WRITERS at once: every write is a list addition, and all of them must land.
  let next = 0;
  const added = [];
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < WRITE_CALLS) {
        const scope = `bench.s${next++}`;
        added.push(scope);
        check(await client.callTool({ name: "update_user", arguments: { userId: "aB3dE5gH7jK9mN1pQ3sT", scopes: { add: [scope] } } }));
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const user = await client.callTool({
    name: "update_user",
    arguments: { userId: "aB3dE5gH7jK9mN1pQ3sT", firstName: "Rosa", dryRun: true },
  });
  const scopes = new Set(user.structuredContent.user.scopes);
  const lost = added.filter((s) => !scopes.has(s)).length;
  // Put the record back for the next run.
  await client.callTool({
    name: "update_user",
    arguments: { userId: "aB3dE5gH7jK9mN1pQ3sT", scopes: ["contacts.write", "conversations.readonly"] },
  });
  await client.close();
  return { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), sameRecordPerSecond: WRITE_CALLS / seconds, lost };
}

async function writeRounds() {
  // With PostgreSQL installed: the same writes with the audit log, locks and key in a database
  // (durable commits, as in production) instead of the file.
  const pg = postgresBin() ? await startPostgres({ durable: true }) : undefined;
  const rounds = { audited: [], unaudited: [], ...(pg ? { database: [] } : {}) };
  const names = Object.keys(rounds);
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of r % 2 === 0 ? names : [...names].reverse()) {
      const log = join(auditDir, `audit-${r}.jsonl`);
      const extra =
        name === "database"
          ? { USERS_MCP_DATABASE_URL: pg.database(`bench_${r}`) }
          : { USERS_MCP_AUDIT_LOG: name === "audited" ? log : "off" };
      rounds[name].push(await writes(extra));
    }
  }
  pg?.destroy();
  rmSync(auditDir, { recursive: true, force: true });
  const summary = (rs) => ({
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    sameRecordPerSecond: median(rs.map((r) => r.sameRecordPerSecond)),
    lost: rs.reduce((a, r) => a + r.lost, 0),
  });
  return {
    audited: summary(rounds.audited),
    unaudited: summary(rounds.unaudited),
    ...(rounds.database ? { database: summary(rounds.database) } : {}),
  };
}

// ---- undo: list_writes and revert_write on an audit log of UNDO_RECORDS records ----

/** Writes an audit log of `records` lines (an intent and an outcome per write), as the server writes them. */
function writeLargeLog(path, records) {
  const users = ["0IHuJvc2ofPAAA8GzTRi", "aB3dE5gH7jK9mN1pQ3sT", "u-elsewhere-1", "u-elsewhere-2"];
  const start = Date.parse("2026-01-01T00:00:00Z");
  const lines = [];
  for (let i = 0; i < records / 2; i++) {
    const base = {
      id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      time: new Date(start + i * 1000).toISOString(),
      tool: "update_user",
      provider: "leadconnector",
      target: users[i % users.length],
      changes: [{ field: "lastName", before: `Before${i}`, after: `After${i}` }],
      confirmation: "not_asked",
    };
    lines.push(
      JSON.stringify({ ...base, phase: "intent" }),
      JSON.stringify({ ...base, phase: "outcome", outcome: "applied", requestId: `r${i}` }),
    );
  }
  writeFileSync(path, `${lines.join("\n")}\n`);
}

async function undoBench() {
  const dir = mkdtempSync(join(tmpdir(), "users-mcp-bench-undo-"));
  const path = join(dir, "audit.jsonl");
  writeLargeLog(path, UNDO_RECORDS);
  const client = await connectWith({ USERS_MCP_AUDIT_LOG: path });
  const timed = async (name, args) => {
    const t = process.hrtime.bigint();
    const result = await client.callTool({ name, arguments: args });
    check(result);
    return { ms: Number(process.hrtime.bigint() - t) / 1e6, result };
  };
  const cold = (await timed("list_writes", { limit: 20 })).ms; // the first call indexes the whole log
  const written = (await timed("update_user", { userId: "0IHuJvc2ofPAAA8GzTRi", firstName: "Undo" })).result.structuredContent.auditId;
  const series = async (name, args) => {
    const lat = [];
    for (let i = 0; i < UNDO_CALLS; i++) lat.push((await timed(name, args)).ms);
    return { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) };
  };
  const list = await series("list_writes", { limit: 20 });
  const listTarget = await series("list_writes", { target: "u-elsewhere-1", limit: 100 });
  const revertDry = await series("revert_write", { auditId: written, dryRun: true });
  const revert = (await timed("revert_write", { auditId: written })).ms;
  await client.close();
  rmSync(dir, { recursive: true, force: true });
  return { records: UNDO_RECORDS, coldListMs: cold, list, listTarget, revertDry, revertMs: revert };
}

// ---- remote mode: stateless Streamable HTTP against the SDK's minimal stateless HTTP server ----

/** Starts an HTTP server process and resolves with its /mcp URL once it listens. */
function startHttpServer(args, extraEnv, fromStdout) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const stream = fromStdout ? child.stdout : child.stderr;
    const look = (d) => {
      out += d;
      const m = fromStdout ? /^(http:\S+)$/m.exec(out) : /serving MCP over HTTP at (\S+)/.exec(out);
      if (!m) return;
      // Stop reading: the server logs a line per request, and keeping (and searching) them all would
      // slow this process, which is also the client being timed. The output is still drained.
      stream.off("data", look);
      stream.resume();
      resolve({ url: m[1], child });
    };
    stream.on("data", look);
    (fromStdout ? child.stderr : child.stdout).resume();
    child.on("exit", (code) => reject(new Error(`server exited (${code}): ${out}`)));
  });
}

/** One stateless JSON-RPC POST to an MCP endpoint, as the remote-mode benchmarks send it. */
let rpcId = 0;
function mcpPost(agent, url, headers, method, params) {
  return request(url, {
    method: "POST",
    dispatcher: agent,
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method, params }),
  });
}

async function httpCalls(url, headers) {
  const agent = new Agent({ connections: CONCURRENCY });
  const call = async () => {
    const res = await mcpPost(agent, url, headers, "tools/call", { name: "get_current_user", arguments: {} });
    const body = await res.body.json();
    if (res.statusCode !== 200 || body.result?.isError)
      throw new Error(`HTTP call failed: ${res.statusCode} ${JSON.stringify(body).slice(0, 200)}`);
  };
  const r = await timeCalls(call);
  await agent.close();
  return r;
}

/**
 * Caller-credentials mode under many distinct callers: each sends its own credentials, lists the tools
 * and calls a tool (the stand-in refuses the unknown token, as a real upstream would). The server's
 * RSS is read before, after CALLERS callers and after as many again: the tenant cache is an LRU with
 * a count and byte budget, so the second batch must add (next to) nothing.
 */
async function callerMemory() {
  const { url, child } = await startHttpServer(
    [SERVERS.ours, "--http", "--port", "0"],
    { USERS_MCP_HTTP_CREDENTIALS: "caller", USERS_MCP_AUDIT_LOG: "off", USERS_MCP_LOG_LEVEL: "info" },
    false,
  );
  const agent = new Agent({ connections: CONCURRENCY });
  const post = async (token, method, params) => {
    const res = await mcpPost(agent, url, { "x-leadping-token": token }, method, params);
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`caller-mode call failed: ${res.statusCode}`);
  };
  const callers = async (from, count) => {
    let next = from;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < from + count) {
          const token = `bench-caller-${next++}-`.padEnd(64, "x");
          await post(token, "tools/list", {});
          await post(token, "tools/call", { name: "get_current_user", arguments: {} });
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    return rssOf(child.pid);
  };
  await callers(0, 200); // warm: pools, tool definitions
  const before = rssOf(child.pid);
  const afterCallers = await callers(1_000_000, CALLERS);
  const afterMoreCallers = await callers(2_000_000, CALLERS);
  await agent.close();
  child.kill("SIGTERM");
  return { callers: CALLERS, before, afterCallers, afterMoreCallers };
}

async function httpRounds() {
  const token = "bench-endpoint-token-0123456789abcdef";
  const variants = {
    sdk: () => startHttpServer([FLOORS.sdkHttp], {}, true),
    ours: () =>
      startHttpServer([SERVERS.ours, "--http", "--port", "0"], { USERS_MCP_HTTP_TOKEN: token, USERS_MCP_LOG_LEVEL: "info" }, false),
    oursNoToken: () =>
      startHttpServer(
        [SERVERS.ours, "--http", "--port", "0"],
        { USERS_MCP_HTTP_CREDENTIALS: "caller", USERS_MCP_LOG_LEVEL: "info" },
        false,
      ),
  };
  const headers = {
    sdk: {},
    ours: { authorization: `Bearer ${token}` },
    oursNoToken: { "x-leadping-token": SANDBOX_CREDENTIALS.leadpingToken },
  };
  const rounds = { sdk: [], ours: [], oursNoToken: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = Object.keys(variants);
    for (let k = 0; k < order.length; k++) {
      const name = order[(r + k) % order.length];
      const { url, child } = await variants[name]();
      rounds[name].push(await httpCalls(url, headers[name]));
      child.kill("SIGTERM");
      await new Promise((res) => child.once("exit", res));
    }
  }
  const summary = (rs) => ({
    p50: median(rs.map((x) => x.p50)),
    p99: median(rs.map((x) => x.p99)),
    throughput: median(rs.map((x) => x.throughput)),
  });
  return Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, summary(v)]));
}

// ---- run ----

const step = async (name, what, fn) => {
  if (!part(name)) return undefined;
  log(what);
  return await fn();
};
const cold = await step("cold", `cold start: ${COLD_RUNS} interleaved runs each...`, coldStarts);
const calls = await step(
  "calls",
  `per call: ${ROUNDS} round(s) of ${SEQ_CALLS} sequential + ${CONC_CALLS} at ${CONCURRENCY} concurrent...`,
  perCall,
);
const mem = await step("memory", `memory: RSS after start, after ${MEMORY_CALLS} and after ${2 * MEMORY_CALLS} calls...`, async () => ({
  sdk: await memory(SERVERS.sdk),
  sdk2: await memory(SERVERS.sdk2),
  ours: await memory(SERVERS.ours),
}));
const write = await step(
  "writes",
  `writes: ${ROUNDS} round(s) of ${WRITE_CALLS} sequential update_user calls, then ${WRITE_CALLS} by ${WRITERS} parallel writers on one record...`,
  writeRounds,
);
const undo = await step("undo", `undo: list_writes and revert_write on an audit log of ${UNDO_RECORDS} records...`, undoBench);
const remote = await step(
  "remote",
  `remote mode: ${ROUNDS} round(s) of get_current_user over HTTP, ours against the SDK's stateless HTTP server...`,
  httpRounds,
);
const tenants = await step(
  "callers",
  `caller mode: RSS before and after ${CALLERS} and ${2 * CALLERS} callers with distinct credentials...`,
  callerMemory,
);
const tools = toolBytes(await listTools());
await sandbox.close();

const ratios = {
  ...(cold && {
    coldVsSdk: cold.ours.median / cold.sdk.median,
    coldVsBare: cold.ours.median / cold.bare.median,
    coldVsSdk2: cold.ours.median / cold.sdk2.median,
    coldCachedVsUncached: COMPILE_CACHE ? cold.ours.median / cold.oursUncached.median : undefined,
    toolsListVsSdk: cold.toolsList.ours.median / cold.toolsList.sdk.median,
    toolsListVsSdk2: cold.toolsList.ours.median / cold.toolsList.sdk2.median,
  }),
  ...(calls && {
    p50VsSdk2: calls.ours.p50 / calls.sdk2.p50,
    throughputVsSdk2: calls.ours.throughput / calls.sdk2.throughput,
    p50VsSdk: calls.ours.p50 / calls.sdk.p50,
    throughputVsSdk: calls.ours.throughput / calls.sdk.throughput,
  }),
  ...(mem && {
    rssVsSdk: mem.ours.afterCalls / mem.sdk.afterCalls,
    rssSteadyVsSdk: mem.ours.afterMoreCalls / mem.sdk.afterMoreCalls,
    rssVsSdk2: mem.ours.afterCalls / mem.sdk2.afterCalls,
  }),
  ...(write && {
    writeP50AuditedVsOff: write.audited.p50 / write.unaudited.p50,
    sameRecordAuditedVsOff: write.audited.sameRecordPerSecond / write.unaudited.sameRecordPerSecond,
    writeP50DatabaseVsFile: write.database ? write.database.p50 / write.audited.p50 : undefined,
  }),
  ...(remote && {
    httpP50VsSdk: remote.ours.p50 / remote.sdk.p50,
    httpThroughputVsSdk: remote.ours.throughput / remote.sdk.throughput,
  }),
};
// The MCP Apps views' document: our own code in it (all but ext-apps' App and the SDK and zod it
// brings), minified and gzipped, has a budget of 60 KiB; the whole document is reported beside it.
const { bundleViews, gzipped, viewsDocument } = await import("../scripts/views.mjs");
const views = { ownGzipKiB: gzipped(await bundleViews({ ownOnly: true })) / 1024, documentGzipKiB: gzipped(await viewsDocument()) / 1024 };
// Issue 30's targets: against the bundled v2 floor (the SDK line this server is built on), and Node's own floor.
const targets = [
  ["cold start ours/sdk v2", ratios.coldVsSdk2, "<=", 1.0],
  ["first tools/list ours/sdk v2", ratios.toolsListVsSdk2, "<=", 1.0],
  ["cold start ours/bare node", ratios.coldVsBare, "<=", 2.0],
  ["p50 per call ours/sdk v2", ratios.p50VsSdk2, "<=", 1.0],
  ["throughput ours/sdk v2", ratios.throughputVsSdk2, ">=", 0.8],
  ["RSS after calls ours/sdk v2", ratios.rssVsSdk2, "<=", 1.0],
  ["HTTP p50 ours/sdk", ratios.httpP50VsSdk, "<=", 1.5],
  ["HTTP throughput ours/sdk", ratios.httpThroughputVsSdk, ">=", 0.8],
  ["tool bytes, Gemini CLI (KB)", tools["Gemini CLI"].total / 1000, "<=", 12],
  ["largest tool, Gemini CLI (KB)", Math.max(...Object.values(tools["Gemini CLI"].perTool)) / 1000, "<=", 2.5],
  ["views: our code, KiB gzip", views.ownGzipKiB, "<=", 60],
].filter(([, value]) => value !== undefined);

const ms = (x) => `${x.toFixed(1)} ms`;
const mib = (x) => `${(x / 1048576).toFixed(1)} MiB`;
const machine = {
  node: process.version,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  cpu: `${os.cpus()[0]?.model ?? "unknown"} x${os.cpus().length}`,
  memory: mib(os.totalmem()),
};
const rows = [
  `users-mcp benchmarks  ${machine.node}  ${machine.cpu}  ${machine.platform}${QUICK ? "  (quick)" : ""}`,
  "",
  ...(cold
    ? [
        `cold start (spawn -> initialize), median of ${COLD_RUNS}`,
        `  (a) bare node script      ${ms(cold.bare.median).padStart(10)}   p90 ${ms(cold.bare.p90)}`,
        `  (b) one-tool SDK server   ${ms(cold.sdk.median).padStart(10)}   p90 ${ms(cold.sdk.p90)}`,
        `  (b2) the same on SDK v2   ${ms(cold.sdk2.median).padStart(10)}   p90 ${ms(cold.sdk2.p90)}   c/b2 ${ratios.coldVsSdk2.toFixed(2)}`,
        `  (c) users-mcp             ${ms(cold.ours.median).padStart(10)}   p90 ${ms(cold.ours.p90)}   c/b ${ratios.coldVsSdk.toFixed(2)}  c/a ${ratios.coldVsBare.toFixed(2)}`,
        `  spawn -> first tools/list answer: (b) ${ms(cold.toolsList.sdk.median)}, (b2) ${ms(cold.toolsList.sdk2.median)}, (c) ${ms(cold.toolsList.ours.median)}   c/b ${ratios.toolsListVsSdk.toFixed(2)}, c/b2 ${ratios.toolsListVsSdk2.toFixed(2)}`,
        COMPILE_CACHE
          ? `  (c) without the compile cache ${ms(cold.oursUncached.median).padStart(6)}   p90 ${ms(cold.oursUncached.p90)}   (c) with/without ${ratios.coldCachedVsUncached.toFixed(2)}`
          : "  compile cache: none on this Node (module.enableCompileCache needs Node >= 22.1)",
        "",
      ]
    : []),
  ...(calls
    ? [
        `get_current_user: sequential p50/p99 (${SEQ_CALLS} calls), throughput at ${CONCURRENCY} concurrent (${CONC_CALLS} calls), median of ${ROUNDS}`,
        `  direct undici request     ${ms(calls.direct.p50).padStart(10)} / ${ms(calls.direct.p99).padEnd(9)} ${calls.direct.throughput.toFixed(0).padStart(7)} /s`,
        `  (b) one-tool SDK server   ${ms(calls.sdk.p50).padStart(10)} / ${ms(calls.sdk.p99).padEnd(9)} ${calls.sdk.throughput.toFixed(0).padStart(7)} /s`,
        `  (b2) the same on SDK v2   ${ms(calls.sdk2.p50).padStart(10)} / ${ms(calls.sdk2.p99).padEnd(9)} ${calls.sdk2.throughput.toFixed(0).padStart(7)} /s   c/b2 p50 ${ratios.p50VsSdk2.toFixed(2)}, throughput ${ratios.throughputVsSdk2.toFixed(2)}`,
        `  (c) users-mcp             ${ms(calls.ours.p50).padStart(10)} / ${ms(calls.ours.p99).padEnd(9)} ${calls.ours.throughput.toFixed(0).padStart(7)} /s`,
        "",
      ]
    : []),
  ...(mem
    ? [
        `RSS of the server process after start -> after ${MEMORY_CALLS} calls -> after ${2 * MEMORY_CALLS} calls`,
        `  (b) one-tool SDK server   ${mib(mem.sdk.afterStart)} -> ${mib(mem.sdk.afterCalls)} -> ${mib(mem.sdk.afterMoreCalls)}`,
        `  (b2) the same on SDK v2   ${mib(mem.sdk2.afterStart)} -> ${mib(mem.sdk2.afterCalls)} -> ${mib(mem.sdk2.afterMoreCalls)}   c/b2 ${ratios.rssVsSdk2.toFixed(2)}`,
        `  (c) users-mcp             ${mib(mem.ours.afterStart)} -> ${mib(mem.ours.afterCalls)} -> ${mib(mem.ours.afterMoreCalls)}   c/b ${ratios.rssVsSdk.toFixed(2)}, then ${ratios.rssSteadyVsSdk.toFixed(2)}`,
        "",
      ]
    : []),
  ...(write
    ? [
        `update_user (read, merge, write; confirmation off): sequential p50/p99 (${WRITE_CALLS} calls), same-record writes/s with ${WRITERS} parallel writers`,
        `  audit log off             ${ms(write.unaudited.p50).padStart(10)} / ${ms(write.unaudited.p99).padEnd(9)} ${write.unaudited.sameRecordPerSecond.toFixed(0).padStart(7)} /s`,
        `  audit log on (2 fsyncs)   ${ms(write.audited.p50).padStart(10)} / ${ms(write.audited.p99).padEnd(9)} ${write.audited.sameRecordPerSecond.toFixed(0).padStart(7)} /s   on/off p50 ${ratios.writeP50AuditedVsOff.toFixed(2)}, writes/s ${ratios.sameRecordAuditedVsOff.toFixed(2)}`,
        write.database
          ? `  PostgreSQL (locks, audit)  ${ms(write.database.p50).padStart(10)} / ${ms(write.database.p99).padEnd(9)} ${write.database.sameRecordPerSecond.toFixed(0).padStart(7)} /s   database/file p50 ${ratios.writeP50DatabaseVsFile.toFixed(2)}`
          : "  PostgreSQL: not measured (no server binaries; node scripts/ensure-postgres.mjs installs them)",
        `  parallel list additions lost: ${write.audited.lost + write.unaudited.lost + (write.database?.lost ?? 0)} of ${(write.database ? 3 : 2) * ROUNDS * WRITE_CALLS}`,
        "",
      ]
    : []),
  ...(undo
    ? [
        `undo on an audit log of ${undo.records} records (${UNDO_CALLS} sequential calls each): p50 / p99`,
        `  first list_writes (indexes the whole log)  ${ms(undo.coldListMs)}`,
        `  list_writes, newest 20      ${ms(undo.list.p50).padStart(10)} / ${ms(undo.list.p99)}`,
        `  list_writes, one target     ${ms(undo.listTarget.p50).padStart(10)} / ${ms(undo.listTarget.p99)}   (100 of 25,000 matches)`,
        `  revert_write, dry run       ${ms(undo.revertDry.p50).padStart(10)} / ${ms(undo.revertDry.p99)}`,
        `  revert_write, applied       ${ms(undo.revertMs).padStart(10)}   (read, write, two fsyncs)`,
        "",
      ]
    : []),
  ...(remote
    ? [
        `remote mode, get_current_user over HTTP (stateless, a server per request): sequential p50/p99, throughput at ${CONCURRENCY} concurrent`,
        `  SDK stateless HTTP server ${ms(remote.sdk.p50).padStart(10)} / ${ms(remote.sdk.p99).padEnd(9)} ${remote.sdk.throughput.toFixed(0).padStart(7)} /s`,
        `  users-mcp, bearer token   ${ms(remote.ours.p50).padStart(10)} / ${ms(remote.ours.p99).padEnd(9)} ${remote.ours.throughput.toFixed(0).padStart(7)} /s   p50 ${ratios.httpP50VsSdk.toFixed(2)}, throughput ${ratios.httpThroughputVsSdk.toFixed(2)}`,
        `  users-mcp, caller creds   ${ms(remote.oursNoToken.p50).padStart(10)} / ${ms(remote.oursNoToken.p99).padEnd(9)} ${remote.oursNoToken.throughput.toFixed(0).padStart(7)} /s   (no endpoint token; p50 ${(remote.ours.p50 - remote.oursNoToken.p50).toFixed(2)} ms from the bearer-token run)`,
        "",
      ]
    : []),
  ...(tenants
    ? [
        `caller mode, server RSS with distinct credentials per caller (tenant cache: at most 500 clients, 48 MiB counted)`,
        `  before -> after ${CALLERS} callers -> after ${2 * CALLERS}: ${mib(tenants.before)} -> ${mib(tenants.afterCallers)} -> ${mib(tenants.afterMoreCallers)}   (second batch ${((tenants.afterMoreCallers - tenants.afterCallers) / 1048576).toFixed(1)} MiB)`,
        "",
      ]
    : []),
  "tool definitions as hosts send them to the model (bench/tool-bytes.mjs), bytes: all nine / largest",
  ...Object.entries(tools).map(
    ([host, t]) => `  ${host.padEnd(24)} ${String(t.total).padStart(7)} / ${Math.max(...Object.values(t.perTool))}`,
  ),
  "",
  `MCP Apps views (dist/views/users-mcp.html), gzipped: our code ${views.ownGzipKiB.toFixed(1)} KiB, the whole document ${views.documentGzipKiB.toFixed(1)} KiB`,
  "",
  "targets",
  ...targets.map(
    ([name, value, op, bound]) =>
      `  ${name.padEnd(30)} ${value.toFixed(2).padStart(6)}  ${op} ${bound.toFixed(1)}   ${(op === "<=" ? value <= bound : value >= bound) ? "met" : "MISSED"}`,
  ),
];
process.stdout.write(`${rows.join("\n")}\n`);

const result = {
  date: new Date().toISOString(),
  quick: QUICK,
  machine,
  settings: { COLD_RUNS, SEQ_CALLS, CONC_CALLS, CONCURRENCY, ROUNDS, MEMORY_CALLS, WRITE_CALLS, WRITERS },
  coldStartMs: cold,
  perCall: calls,
  rssBytes: mem,
  writes: write,
  undo,
  remote,
  tenants,
  toolBytes: tools,
  views,
  ratios,
  targets: targets.map(([name, value, op, bound]) => ({ name, value, op, bound, met: op === "<=" ? value <= bound : value >= bound })),
};
const dir = here("./results/");
mkdirSync(dir, { recursive: true });
const json = `${JSON.stringify(result, null, 2)}\n`;
writeFileSync(`${dir}latest.json`, json);
writeFileSync(`${dir}${result.date.slice(0, 10)}-node${process.versions.node.split(".")[0]}.json`, json);
log(`wrote bench/results/latest.json`);
const lost = write ? write.audited.lost + write.unaudited.lost + (write.database?.lost ?? 0) : 0;
if (STRICT && (result.targets.some((t) => !t.met) || lost > 0)) process.exitCode = 1;

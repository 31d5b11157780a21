// Instructions per call, counted by valgrind's callgrind: unlike times, the count barely moves with
// whatever else a shared machine is doing, so it shows a per-call change of a few percent that the
// throughput rounds of bench/run.mjs cannot. Compares (b) the one-tool SDK server, (b2) the same on the
// SDK's v2 line, both bundled as bench/floors.mjs builds them (platform fetch, rolldown), and (c) this server.
//
//   npm run bench:instructions [-- --calls 500] [-- --warmup 1500]   (needs valgrind and a build)
//
// Each server runs under callgrind with instrumentation off; after the warm-up calls it is switched on
// for the measured calls (8 at a time), then off. Only the main thread counts: the other threads are
// V8 compiling and sweeping in the background, which a warmed-up server does less of in real use.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { SANDBOX_CREDENTIALS, startSandbox } from "../dist/sandbox/index.js";
import { buildFloors, FLOORS } from "./floors.mjs";

const option = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const CALLS = option("calls", 500);
const WARMUP = option("warmup", 1500);
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
await buildFloors();
const SERVERS = { sdk: FLOORS.sdk, sdk2: FLOORS.sdk2, ours: here("../dist/index.js") };

try {
  execFileSync("valgrind", ["--version"], { stdio: "ignore" });
} catch {
  process.stderr.write("valgrind is not installed (Debian: apt-get install valgrind); nothing measured.\n");
  process.exit(1);
}

const sandbox = await startSandbox({ leadpingRateLimit: 1e12, keepAliveTimeoutMs: 600_000 });
sandbox.requests.push = () => 0;
const env = {
  PATH: process.env.PATH ?? "",
  LEADPING_BASE_URL: sandbox.baseUrls.leadping,
  LEADPING_API_TOKEN: SANDBOX_CREDENTIALS.leadpingToken,
  USERS_MCP_LOG_LEVEL: "warn",
};

/** Main-thread instructions per call for one server. */
async function measure(script) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "users-mcp-cg-"));
  const out = path.join(dir, "cg.out");
  const transport = new StdioClientTransport({
    command: "valgrind",
    args: [
      "--tool=callgrind",
      "--instr-atstart=no",
      "--separate-threads=yes",
      `--callgrind-out-file=${out}`,
      process.execPath,
      "--single-threaded-gc",
      script,
    ],
    env,
    stderr: "ignore",
  });
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(transport, { timeout: 600_000 });
  const call = async () => {
    const r = await client.callTool({ name: "get_current_user", arguments: {} }, undefined, { timeout: 600_000 });
    if (r.isError) throw new Error(`tool call failed: ${JSON.stringify(r.content)}`);
  };
  for (let i = 0; i < WARMUP; i++) await call();
  execFileSync("callgrind_control", ["--instr=on", String(transport.pid)], { stdio: "ignore" });
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next++ < CALLS) await call();
    }),
  );
  execFileSync("callgrind_control", ["--instr=off", String(transport.pid)], { stdio: "ignore" });
  await client.close();
  for (let i = 0; i < 600 && !readdirSync(dir).some((f) => f.endsWith("-01")); i++) await new Promise((r) => setTimeout(r, 100));
  const main = readdirSync(dir).find((f) => f.endsWith("-01"));
  const totals = main ? /^totals: (\d+)/m.exec(readFileSync(path.join(dir, main), "utf8")) : null;
  rmSync(dir, { recursive: true, force: true });
  if (!totals) throw new Error(`no callgrind totals for ${script}`);
  return Number(totals[1]) / CALLS;
}

const log = (line) => process.stderr.write(`${line}\n`);
log(`callgrind: ${WARMUP} warm-up calls, then ${CALLS} measured calls per server (a few minutes)...`);
const sdk = await measure(SERVERS.sdk);
const sdk2 = await measure(SERVERS.sdk2);
const ours = await measure(SERVERS.ours);
await sandbox.close();
const k = (n) => `${Math.round(n / 1000)}k`;
console.log(`instructions per get_current_user call, main thread, node ${process.version}`);
console.log(`  (b) one-tool SDK server   ${k(sdk)}`);
console.log(`  (b2) the same on SDK v2   ${k(sdk2)}`);
console.log(`  (c) users-mcp             ${k(ours)}   c/b ${(ours / sdk).toFixed(2)}, c/b2 ${(ours / sdk2).toFixed(2)}`);

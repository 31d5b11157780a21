/**
 * A team deployment on loopback, for the cluster tests: PostgreSQL (scripts/postgres.mjs, the two-role
 * setup), N replicas of the built server sharing it, HAProxy with plain round-robin in front
 * (deploy/haproxy-roundrobin.cfg, one server line per replica), and the LeadConnector sandbox behind a
 * small HTTP proxy that adds latency and faults the way a real upstream has them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SANDBOX_CREDENTIALS, type Sandbox, startSandbox } from "../src/sandbox/index.js";

export const SERVER = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const HAPROXY_CFG = fileURLToPath(new URL("../deploy/haproxy-roundrobin.cfg", import.meta.url));
export const TOKEN = "cluster-endpoint-token-0123456789";

export interface Pg {
  psql(sql: string, db?: string, user?: string): { status: number; stdout: string; stderr: string };
  twoRoles(name?: string): { url: string; adminUrl: string };
  stop(): void;
  start(): void;
  destroy(): void;
}

export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** How the proxy treats requests to LeadConnector: every one waits `latencyMs`; writes (PUT) may fail or be held. */
export interface Upstream {
  latencyMs: number;
  /** Share of PUTs answered 503 without reaching the sandbox (not applied). */
  failWrites: number;
  /** Share of PUTs held `holdMs` before they reach the sandbox (applied after the caller's deadline). */
  holdWrites: number;
  holdMs: number;
  /** PUTs held right now. */
  held: number;
  /** PUTs answered 503 by the proxy. */
  failed: number;
}

/** The sandbox behind a latency and fault proxy; `records` LeadConnector users named lc-user-0000… are added. */
export async function startUpstream(
  records: number,
): Promise<{ sandbox: Sandbox; upstream: Upstream; url: string; close(): Promise<void> }> {
  const sandbox = await startSandbox({ leadconnectorRateLimit: 1e9 });
  for (let i = 0; i < records; i++) sandbox.state.leadconnector.add(recordId(i), `Person${i}`);
  const target = new URL(sandbox.baseUrls.leadconnector);
  const upstream: Upstream = { latencyMs: 0, failWrites: 0, holdWrites: 0, holdMs: 0, held: 0, failed: 0 };
  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const out = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on("error", () => res.destroy());
    out.end(body);
  };
  const proxy = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      setTimeout(() => {
        const write = req.method === "PUT";
        const dice = Math.random();
        if (write && dice < upstream.failWrites) {
          upstream.failed++;
          res.writeHead(503, { "content-type": "application/json" }).end('{"statusCode":503,"message":"Service Unavailable"}');
        } else if (write && dice < upstream.failWrites + upstream.holdWrites) {
          upstream.held++;
          // Applied late, even if the caller gave up meanwhile: the outcome the caller saw is "unknown".
          setTimeout(() => {
            upstream.held--;
            forward(req, body, res);
          }, upstream.holdMs);
        } else forward(req, body, res);
      }, upstream.latencyMs);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const { port } = proxy.address() as { port: number };
  return {
    sandbox,
    upstream,
    url: `http://127.0.0.1:${port}${target.pathname}`,
    async close() {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
      await sandbox.close();
    },
  };
}

export const recordId = (i: number) => `lc-user-${String(i).padStart(4, "0")}`;

export interface Replica {
  port: number;
  env: Record<string, string>;
  child: ChildProcess;
  log: string[];
  exited: boolean;
}

export function startReplica(port: number, env: Record<string, string>): Replica {
  const child = spawn(process.execPath, [SERVER, "--http", "--port", String(port)], {
    env: { PATH: process.env.PATH, HOME: "/nonexistent", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const r: Replica = { port, env, child, log: [], exited: false };
  child.stderr?.on("data", (d: Buffer) => r.log.push(d.toString()));
  child.on("exit", () => {
    r.exited = true;
  });
  return r;
}

/** Replicas sharing `db` behind HAProxy round-robin; waits until every replica answers through it. */
export async function startCluster(
  n: number,
  db: { url: string; adminUrl: string },
  upstreamUrl: string,
  extra: Record<string, string> = {},
): Promise<{ url: string; replicas: Replica[]; restart(i: number): Promise<void>; stop(): void }> {
  const env = {
    LEADCONNECTOR_BASE_URL: upstreamUrl,
    LEADCONNECTOR_TOKEN: SANDBOX_CREDENTIALS.leadconnectorToken,
    USERS_MCP_HTTP_TOKEN: TOKEN,
    USERS_MCP_DATABASE_URL: db.url,
    USERS_MCP_DATABASE_ADMIN_URL: db.adminUrl,
    USERS_MCP_CONFIRM: "off",
    USERS_MCP_LOG_LEVEL: "warn",
    USERS_MCP_HTTP_MAX_IN_FLIGHT: "1000",
    ...extra,
  };
  const replicas: Replica[] = [];
  for (let i = 0; i < n; i++) replicas.push(startReplica(await freePort(), env));
  const dir = mkdtempSync(join(tmpdir(), "users-mcp-haproxy-"));
  const cfg = join(dir, "haproxy.cfg");
  const base = readFileSync(HAPROXY_CFG, "utf8").replace(/^\s*server r\d .*$/gm, "");
  writeFileSync(cfg, `${base}${replicas.map((r, i) => `    server r${i + 1} 127.0.0.1:${r.port} check\n`).join("")}`);
  const listen = await freePort();
  const haproxy = spawn("haproxy", ["-f", cfg, "-db"], {
    env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin`, USERS_MCP_LISTEN: `127.0.0.1:${listen}` },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const url = `http://127.0.0.1:${listen}/mcp`;
  let last = "";
  haproxy.stderr?.on("data", (d: Buffer) => {
    last += d.toString();
  });
  await until(
    async () => {
      const seen = new Set<string>();
      for (let i = 0; i < n * 2; i++) {
        const r = await callTool(url, "get_user", { userId: recordId(0) }).catch((err: Error) => {
          last = err.message;
          return undefined;
        });
        if (r && !r.isError) seen.add(r.replica);
        else if (r) last = r.text;
      }
      return seen.size === n;
    },
    40_000,
    "HAProxy and every replica",
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${last.slice(0, 500)} ${replicas.map((r) => r.log.join("").slice(0, 300)).join(" | ")}`);
  });
  return {
    url,
    replicas,
    async restart(i: number) {
      const old = replicas[i] as Replica;
      if (!old.exited) {
        old.child.kill("SIGKILL");
        await until(() => old.exited, 10_000, "a killed replica to exit");
      }
      replicas[i] = startReplica(old.port, old.env);
    },
    stop() {
      haproxy.kill("SIGTERM");
      for (const r of replicas) r.child.kill("SIGTERM");
    },
  };
}

export interface ToolAnswer {
  status: number;
  replica: string;
  isError: boolean;
  text: string;
  structured: Record<string, unknown> | undefined;
  ms: number;
}

export async function callTool(url: string, name: string, args: Record<string, unknown>, timeoutMs = 30_000): Promise<ToolAnswer> {
  const t = performance.now();
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      authorization: `Bearer ${TOKEN}`,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await res.json().catch(() => ({}))) as {
    result?: { isError?: boolean; content?: Array<{ text: string }>; structuredContent?: Record<string, unknown> };
    error?: { message: string };
  };
  return {
    status: res.status,
    replica: res.headers.get("x-users-mcp-replica") ?? "?",
    isError: res.status !== 200 || body.result?.isError === true || body.error !== undefined,
    text: body.result?.content?.[0]?.text ?? body.error?.message ?? `HTTP ${res.status}`,
    structured: body.result?.structuredContent,
    ms: performance.now() - t,
  };
}

export const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

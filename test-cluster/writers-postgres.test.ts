/**
 * Many writers at once over three replicas sharing PostgreSQL (two roles) behind round-robin HAProxy,
 * the upstream answering in 200 ms: a write holds one database connection, so 200 writes to 200
 * records all apply; with PostgreSQL's max_connections low, every write applies or is told "busy, try
 * again" (never "cannot be reached"), and nothing is half-done.
 */
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module shared with the bench, without types
import { startPostgres } from "../scripts/postgres.mjs";
import { callTool, type Pg, percentile, recordId, startCluster, startUpstream } from "./team.js";

const WRITERS = 200;
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** 200 writes to 200 records at once through the balancer; the answers, and the latencies. */
async function burst(url: string, tag: string) {
  const answers = await Promise.all(
    Array.from({ length: WRITERS }, (_, i) => callTool(url, "update_user", { userId: recordId(i), firstName: `${tag}${i}` }, 120_000)),
  );
  const ms = answers.map((a) => a.ms);
  return { answers, p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

/** A count from the audit table; psql is retried while PostgreSQL turns it away (max_connections is low on purpose). */
const count = async (pg: Pg, db: string, where: string) => {
  for (let i = 0; ; i++) {
    const r = pg.psql(`SELECT count(*) FROM users_mcp_audit WHERE ${where}`, db);
    if ((r.status === 0 && r.stdout.trim()) || i >= 100) return r.stdout.trim();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

describe("200 writers over three replicas behind round-robin HAProxy", () => {
  it("200 writes to 200 records, upstream answering in 200 ms: all applied, none refused", async () => {
    const pg = (await startPostgres()) as Pg;
    cleanups.push(() => pg.destroy());
    const up = await startUpstream(WRITERS);
    cleanups.push(() => up.close());
    up.upstream.latencyMs = 200;
    const db = pg.twoRoles("writers");
    const cluster = await startCluster(3, db, up.url, { USERS_MCP_TIMEOUT_MS: "60000" });
    cleanups.push(() => cluster.stop());
    const { answers, p50, p99 } = await burst(cluster.url, "Writer");
    process.stderr.write(`200 writers, 3 replicas, upstream 200 ms: write p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms\n`);
    const refused = answers.filter((a) => a.isError).map((a) => a.text);
    expect(refused).toEqual([]);
    expect(new Set(answers.map((a) => a.replica)).size).toBe(3);
    for (let i = 0; i < WRITERS; i++) expect(up.sandbox.state.leadconnector.user(recordId(i))?.firstName).toBe(`Writer${i}`);
    expect(await count(pg, "writers", "phase = 'outcome' AND outcome = 'applied'")).toBe(String(WRITERS));
    expect(await count(pg, "writers", "phase = 'intent'")).toBe(String(WRITERS));
  }, 240_000);

  it("with max_connections = 20: every write applied or told busy (never 'cannot be reached'), nothing half-done", async () => {
    const pg = (await startPostgres({ maxConnections: 20 })) as Pg;
    cleanups.push(() => pg.destroy());
    const up = await startUpstream(WRITERS);
    cleanups.push(() => up.close());
    up.upstream.latencyMs = 200;
    const db = pg.twoRoles("crowded");
    // 3 replicas x 10 connections would be 30: more than PostgreSQL lets in (17 after its reserved ones).
    const cluster = await startCluster(3, db, up.url, { USERS_MCP_TIMEOUT_MS: "60000" });
    cleanups.push(() => cluster.stop());
    const { answers, p50, p99 } = await burst(cluster.url, "Crowd");
    const applied = answers.filter((a) => !a.isError);
    const busy = answers.filter((a) => a.isError);
    process.stderr.write(
      `200 writers, max_connections 20: ${applied.length} applied, ${busy.length} told busy; p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms\n`,
    );
    for (const a of busy) {
      expect(a.text).toMatch(/^Busy: .*try the write again in \d+ s/is);
      expect(a.text).not.toMatch(/cannot be reached/);
    }
    expect(applied.length).toBeGreaterThan(0);
    // Nothing half-done: each applied write is on the upstream and in the audit as applied; each refused one
    // sent nothing and left no intent.
    for (let i = 0; i < WRITERS; i++) {
      const a = answers[i];
      const name = up.sandbox.state.leadconnector.user(recordId(i))?.firstName;
      expect(name).toBe(a?.isError ? `Person${i}` : `Crowd${i}`);
    }
    // The replicas hold their pools' connections: stop them so the check's own psql gets in.
    cluster.stop();
    expect(await count(pg, "crowded", "phase = 'outcome' AND outcome = 'applied'")).toBe(String(applied.length));
    expect(await count(pg, "crowded", "phase = 'intent'")).toBe(String(applied.length));
  }, 240_000);
});

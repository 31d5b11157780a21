// @module-tag slow: a real PostgreSQL (installed by scripts/ensure-postgres.mjs when missing)
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module shared with the bench, without types
import { startPostgres } from "../scripts/postgres.mjs";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { SANDBOX_TWOSMS_USER_ID } from "../src/sandbox/twosms.js";
import { isolatedEnv, SERVER, sandboxEnv } from "./harness.js";
import { MCP_HEADERS, modernPost, type Remote, startHttp } from "./http-harness.js";

// Shared state in a real PostgreSQL (Debian's server, started here in a temp directory as the
// unprivileged postgres user), used by the server's own ordinary role that owns its database.

interface Pg {
  url: string;
  database(name?: string): string;
  twoRoles(name?: string): { url: string; adminUrl: string };
  psql(sql: string, db?: string, user?: string): { status: number; stdout: string; stderr: string };
  stop(): void;
  start(): void;
  destroy(): void;
}

let pg: Pg;
let sandbox: Sandbox;
const servers: Remote[] = [];

beforeAll(async () => {
  [pg, sandbox] = await Promise.all([startPostgres() as Promise<Pg>, startSandbox({ leadpingRateLimit: 1e9 })]);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  pg?.destroy();
  await sandbox?.close();
});

const env = (url: string, extra: Record<string, string> = {}) =>
  sandboxEnv(sandbox, { ...isolatedEnv(), USERS_MCP_DATABASE_URL: url, USERS_MCP_HTTP_TOKEN: "a-token-for-these-tests-0123", ...extra });
async function serve(url: string, extra: Record<string, string> = {}): Promise<Remote> {
  const s = await startHttp(env(url, extra));
  servers.push(s);
  return s;
}
const call = async (server: Remote, name: string, args: Record<string, unknown>) => {
  const res = await fetch(server.url, {
    method: "POST",
    headers: { ...MCP_HEADERS, "mcp-protocol-version": "2025-11-25", authorization: "Bearer a-token-for-these-tests-0123" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } }),
  });
  return (
    (await res.json()) as { result: { isError?: boolean; content: Array<{ text: string }>; structuredContent?: Record<string, unknown> } }
  ).result;
};
/** One MCP 2026-07-28 tools/call through the endpoint token; its result. */
const modern = async (server: Remote, params: { name: string } & Record<string, unknown>) =>
  (await modernPost(server.url, "tools/call", params, { authorization: "Bearer a-token-for-these-tests-0123" })).body.result as Record<
    string,
    unknown
  >;
const rows = (db: string, sql: string) => pg.psql(sql, db).stdout.trim();
const licensedStates = () =>
  (sandbox.state.leadping.userFor(sandboxEnv(sandbox).LEADPING_API_TOKEN as string)?.compliance as { licensedStates?: string[] })
    ?.licensedStates ?? [];

describe("shared state in PostgreSQL", () => {
  it("three replicas starting at once migrate the schema once, and the audit table is append-only for the server's role", async () => {
    const url = pg.database("race");
    const three = await Promise.all([serve(url), serve(url), serve(url)]);
    expect(three.every((s) => s.url)).toBe(true);
    expect(rows("race", "SELECT string_agg(version::text, ',') FROM users_mcp_schema")).toBe("1");
    expect(rows("race", "SELECT tableowner FROM pg_tables WHERE tablename = 'users_mcp_audit'")).toBe("users_mcp");
    const written = await call(three[0] as Remote, "update_compliance", { compliance: { licensedStates: { add: ["RI"] } } });
    expect(written.structuredContent).toMatchObject({ applied: true });
    expect(rows("race", "SELECT string_agg(phase, ',' ORDER BY seq) FROM users_mcp_audit")).toBe("intent,outcome");
    for (const sql of ["UPDATE users_mcp_audit SET tool = 'x'", "DELETE FROM users_mcp_audit", "TRUNCATE users_mcp_audit"]) {
      const r = pg.psql(sql, "race");
      expect(r.status, sql).not.toBe(0);
      expect(r.stderr, sql).toMatch(/permission denied|append-only/);
    }
    // users-mcp audit and doctor read the table.
    const run = promisify(execFile);
    const cli = { env: { PATH: process.env.PATH, ...env(url) } as NodeJS.ProcessEnv };
    const audit = await run(process.execPath, [SERVER, "audit"], cli);
    expect(audit.stdout).toContain("Audit log PostgreSQL (USERS_MCP_DATABASE_URL)");
    expect(audit.stdout).toMatch(/update_compliance\s+me\s+licensedStates\s+applied/);
    expect(audit.stdout + audit.stderr).not.toContain("users-mcp-test-password");
    const doctor = await run(process.execPath, [SERVER, "doctor"], cli).catch((e: { stdout: string }) => e);
    expect(doctor.stdout).toMatch(/Database \(USERS_MCP_DATABASE_URL\): connected; schema version 1/);
    // list_writes on another replica sees the write made on the first.
    const listed = await call(three[2] as Remote, "list_writes", {});
    expect((listed.structuredContent as { count: number }).count).toBe(1);
  });

  it("serializes writes to one record across replicas: 8 parallel list edits over two replicas all land", async () => {
    const url = pg.database("locks");
    const [a, b] = await Promise.all([serve(url), serve(url)]);
    const states = ["AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE"];
    const results = await Promise.all(
      states.map((s, i) =>
        call(i % 2 === 0 ? (a as Remote) : (b as Remote), "update_compliance", { compliance: { licensedStates: { add: [s] } } }),
      ),
    );
    for (const r of results) expect(r.isError, r.content[0]?.text).toBeFalsy();
    expect(licensedStates()).toEqual(expect.arrayContaining(states));
    expect(rows("locks", "SELECT count(*) FROM users_mcp_audit WHERE outcome = 'applied'")).toBe("8");
  });

  it("shares the preview key through the database: a preview on one replica binds a write on another", async () => {
    const url = pg.database("keys");
    const [a, b] = await Promise.all([serve(url), serve(url)]);
    const change = { compliance: { licensedProducts: { add: ["Vision"] } } };
    const preview = await call(a as Remote, "update_compliance", { ...change, dryRun: true });
    const token = (preview.structuredContent as { previewToken: string }).previewToken;
    const written = await call(b as Remote, "update_compliance", { ...change, previewToken: token });
    expect(written.structuredContent).toMatchObject({ applied: true });
  });

  it("an answered MCP 2026-07-28 confirmation writes once across replicas: a replay on another replica is refused", async () => {
    const url = pg.database("answers");
    const [a, b] = await Promise.all([
      serve(url, { USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "true" }),
      serve(url, { USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "true" }),
    ]);
    // A password change: it is always a change (never compared), so only the spent answer stops a replay.
    const change = { name: "update_gdpr", arguments: { userId: SANDBOX_TWOSMS_USER_ID, password: "Replay-Proof-Passw0rd!" } };
    const first = await modern(a as Remote, change);
    expect(first.resultType).toBe("input_required");
    const accept = { inputResponses: { confirm: { action: "accept", content: { confirm: true } } }, requestState: first.requestState };
    const posts = () => sandbox.requests.filter((r) => r.provider === "twosms" && r.method === "POST" && r.path !== "/Token").length;
    const before = posts();
    expect((await modern(a as Remote, { ...change, ...accept })).structuredContent).toMatchObject({
      applied: true,
      confirmation: "accepted",
    });
    expect(posts()).toBe(before + 1);
    const replay = await modern(b as Remote, { ...change, ...accept });
    expect(replay.isError).toBe(true);
    expect((replay.content as Array<{ text: string }>)[0]?.text).toMatch(/answer was used already/);
    expect(posts()).toBe(before + 1);
  });

  it("with the database stopped, writes are refused naming it and nothing is sent; reads go on; writes resume when it is back", async () => {
    const url = pg.database("outage");
    const server = await serve(url);
    expect((await call(server, "update_compliance", { compliance: { licensedStates: { add: ["NH"] } } })).isError).toBeFalsy();
    const ready = () => fetch(new URL("/readyz", server.url)).then((r) => r.json() as Promise<{ status: string }>);
    expect((await ready()).status).toBe("ready");
    pg.stop();
    try {
      const before = sandbox.requests.filter((r) => r.method === "PUT").length;
      const refused = await call(server, "update_compliance", { compliance: { licensedStates: { add: ["VT"] } } });
      expect(refused.isError).toBe(true);
      expect(refused.content[0]?.text).toMatch(/database \(USERS_MCP_DATABASE_URL\) cannot be reached.*nothing was sent upstream/is);
      expect(refused.content[0]?.text).not.toContain("users-mcp-test-password");
      expect(sandbox.requests.filter((r) => r.method === "PUT").length).toBe(before);
      const read = await call(server, "get_current_user", {});
      expect(read.isError).toBeFalsy();
      const degraded = await ready();
      expect(degraded.status).toBe("degraded: database unreachable");
      expect(JSON.stringify(degraded)).not.toMatch(/ECONNREFUSED|password|users-mcp-test-password/);
    } finally {
      pg.start();
    }
    // No restart: the pool reconnects and the next write goes through.
    let back: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 50 && (back === undefined || back.isError); i++) {
      back = await call(server, "update_compliance", { compliance: { licensedStates: { add: ["VT"] } } });
      if (back.isError) await new Promise((r) => setTimeout(r, 200));
    }
    expect(back?.isError, back?.content[0]?.text).toBeFalsy();
    expect(licensedStates()).toContain("VT");
    const ready2 = await ready();
    expect(ready2.status).toBe("ready");
  });
});

const LC_USER = "sAmL33sUbAcc0unt0001";
const lcUser = () => sandbox.state.leadconnector.user(LC_USER) as { firstName: string; lastName: string };
const lcPuts = () => sandbox.requests.filter((r) => r.provider === "leadconnector" && r.method === "PUT").length;
const run = promisify(execFile);
const cli = (args: string[], url: string, extra: Record<string, string> = {}) =>
  run(process.execPath, [SERVER, ...args], { env: { PATH: process.env.PATH, ...env(url, extra) } as NodeJS.ProcessEnv }).catch(
    (e: { stdout: string; stderr: string; code: number }) => e,
  );

describe("two roles: an owner that migrates, a run-time role that may only insert and read", () => {
  it("the run-time role is refused UPDATE, DELETE, TRUNCATE, DISABLE TRIGGER and GRANT; doctor says so, and warns with one role", async () => {
    const { url, adminUrl } = pg.twoRoles("split");
    // doctor is a check: before any server started, it finds no schema, says how to migrate, and creates nothing.
    const before = await cli(["doctor"], url);
    expect(before.stdout).toMatch(/schema is missing.*USERS_MCP_DATABASE_ADMIN_URL/s);
    expect(rows("split", "SELECT to_regclass('users_mcp_audit') IS NULL AND to_regclass('users_mcp_schema') IS NULL")).toBe("t");
    const server = await serve(url, { USERS_MCP_DATABASE_ADMIN_URL: adminUrl });
    const written = await call(server, "update_compliance", { compliance: { licensedStates: { add: ["WY"] } } });
    expect(written.structuredContent, written.content[0]?.text).toMatchObject({ applied: true });
    expect(rows("split", "SELECT tableowner FROM pg_tables WHERE tablename = 'users_mcp_audit'")).toBe("users_mcp_owner");
    for (const sql of [
      "UPDATE users_mcp_audit SET tool = 'x'",
      "DELETE FROM users_mcp_audit",
      "TRUNCATE users_mcp_audit",
      "ALTER TABLE users_mcp_audit DISABLE TRIGGER users_mcp_audit_no_change",
      "CREATE TABLE users_mcp_other (x int)",
    ]) {
      const r = pg.psql(sql, "split", "users_mcp");
      expect(r.status, sql).not.toBe(0);
      expect(r.stderr, sql).toMatch(/permission denied|must be owner/);
    }
    // A GRANT without the right to grant is a warning in PostgreSQL, and grants nothing.
    const grant = pg.psql("GRANT UPDATE, DELETE, TRUNCATE ON users_mcp_audit TO users_mcp", "split", "users_mcp");
    expect(grant.stderr).toMatch(/no privileges were granted/);
    expect(
      rows(
        "split",
        "SELECT has_table_privilege('users_mcp', 'users_mcp_audit', 'UPDATE') OR has_table_privilege('users_mcp', 'users_mcp_audit', 'DELETE') OR has_table_privilege('users_mcp', 'users_mcp_audit', 'TRUNCATE')",
      ),
    ).toBe("f");
    expect(rows("split", "SELECT count(*) FROM users_mcp_audit")).toBe("2");
    const doctor = await cli(["doctor"], url);
    expect(doctor.stdout).toMatch(/connected; schema version 1 .*role users_mcp/);
    expect(doctor.stdout).toMatch(/may only insert and read the audit table/);
    expect(doctor.stdout + doctor.stderr).not.toContain("users-mcp-test-password");
    // One role (the server owns its tables): it keeps working, and doctor says how to split it.
    const one = pg.database("onerole");
    await serve(one);
    const warned = await cli(["doctor"], one);
    expect(warned.stdout).toMatch(/can rewrite the audit history: it owns the audit table.*USERS_MCP_DATABASE_ADMIN_URL/s);
  }, 90_000);

  it("revert_write refuses a row the owner rewrote to values the tool refuses (U+202E, BEL): nothing is sent", async () => {
    const { url, adminUrl } = pg.twoRoles("rewritten");
    const server = await serve(url, { USERS_MCP_DATABASE_ADMIN_URL: adminUrl });
    const original = lcUser().firstName;
    const written = await call(server, "update_user", { userId: LC_USER, firstName: "Samuel" });
    expect(written.structuredContent, written.content[0]?.text).toMatchObject({ applied: true });
    const auditId = (written.structuredContent as { auditId: string }).auditId;
    // The owner can do what the server's role cannot: turn off the guard and rewrite the history.
    const rewrite = pg.psql(
      `GRANT UPDATE ON users_mcp_audit TO users_mcp_owner;
       ALTER TABLE users_mcp_audit DISABLE TRIGGER users_mcp_audit_no_change;
       UPDATE users_mcp_audit SET record = jsonb_set(record, '{changes,0,before}', to_jsonb(E'S\\u202Eam\\u0007'::text)) WHERE id = '${auditId}';`,
      "rewritten",
      "users_mcp_owner",
    );
    expect(rewrite.status, rewrite.stderr).toBe(0);
    const puts = lcPuts();
    const undo = await call(server, "revert_write", { auditId });
    expect(undo.isError).toBe(true);
    expect(undo.content[0]?.text).toMatch(/not values update_user accepts.*firstName/s);
    expect(lcPuts()).toBe(puts);
    expect(lcUser().firstName).toBe("Samuel");
    // Put it back as it was, for the tests after this one.
    expect((await call(server, "update_user", { userId: LC_USER, firstName: original })).isError).toBeFalsy();
  }, 60_000);
});

describe("U+0000 in database mode", () => {
  it("an upstream name holding U+0000 is stored and shown safely, and the write applies", async () => {
    const url = pg.database("nul");
    const server = await serve(url);
    const user = lcUser();
    const original = user.lastName;
    user.lastName = "Le\u0000e";
    try {
      const written = await call(server, "update_user", { userId: LC_USER, lastName: "Lee-Park" });
      expect(written.structuredContent, written.content[0]?.text).toMatchObject({ applied: true });
      expect(rows("nul", "SELECT count(*) FROM users_mcp_audit WHERE outcome = 'applied'")).toBe("1");
      expect(rows("nul", "SELECT record->'changes'->0->>'before' FROM users_mcp_audit WHERE phase = 'intent'")).toBe("Le\uFFFDe");
      const listed = await call(server, "list_writes", {});
      expect((listed.structuredContent as { count: number }).count).toBe(1);
      const shown = await cli(["audit", "--json"], url);
      expect(shown.stdout).toContain("update_user");
    } finally {
      user.lastName = original;
    }
  }, 60_000);

  it("a claim holding U+0000 (the actor of a write) is stored, and the record with it", async () => {
    const url = pg.database("nulclaim");
    await serve(url); // migrates
    const { Database } = await import("../src/audit/database.js");
    const { DatabaseAuditLog } = await import("../src/audit/pg.js");
    const db = new Database(url, { poolSize: 1 });
    try {
      const log = new DatabaseAuditLog(db);
      const record = {
        id: "nul-claim-1",
        time: new Date().toISOString(),
        phase: "intent" as const,
        tool: "update_user",
        provider: "leadconnector",
        target: LC_USER,
        changes: [{ field: "lastName", before: "Lee", after: "Lee\u0000" }],
        confirmation: "not_asked" as const,
        actor: { sub: "user\u00001", name: "Dana\u0000Reyes" },
      };
      await log.append(record, { deadline: Date.now() + 5_000 });
      expect(rows("nulclaim", "SELECT actor->>'name' FROM users_mcp_audit WHERE id = 'nul-claim-1'")).toBe("Dana\uFFFDReyes");
    } finally {
      await db.close();
    }
  }, 60_000);
});

describe("reconcile after a crash", () => {
  it("a replica killed between intent and outcome: reconcile reads the record and records what it finds", async () => {
    const url = pg.database("crash");
    const quick = { USERS_MCP_TIMEOUT_MS: "8000" };
    // Applied: the upstream takes the write, and the replica dies before it hears back.
    const a = await serve(url, quick);
    sandbox.fault({ provider: "leadconnector", method: "PUT", kind: "hang" });
    let answer = "";
    const applied = call(a, "update_user", { userId: LC_USER, firstName: "Samson" }).then(
      (r) => {
        answer = r.content[0]?.text ?? "";
      },
      () => undefined,
    );
    await until(() => sandbox.requestsTo("leadconnector", "PUT").some((r) => r.body.includes("Samson")), "the first write upstream").catch(
      (err: Error) => {
        throw new Error(`${err.message}: ${answer}`);
      },
    );
    a.child.kill("SIGKILL");
    await applied;
    lcUser().firstName = "Samson"; // what the upstream did with the request the replica never heard back from
    // Not applied: the upstream never answers, and never applies.
    const b = await serve(url, quick);
    sandbox.fault({ provider: "leadconnector", method: "PUT", kind: "hang" });
    const lost = call(b, "update_user", { userId: "k1mNguy3nAdm1n000002", firstName: "Kimberly" }).catch(() => undefined);
    await until(() => sandbox.requestsTo("leadconnector", "PUT").some((r) => r.body.includes("Kimberly")), "the second write upstream");
    b.child.kill("SIGKILL");
    await lost;
    sandbox.clearFaults();
    expect(rows("crash", "SELECT string_agg(phase, ',' ORDER BY seq) FROM users_mcp_audit")).toBe("intent,intent");
    // Older than the deadline (and its grace): reconcile settles both, as new outcome records.
    await new Promise((r) => setTimeout(r, 12_000));
    const settled = await cli(["audit", "--reconcile"], url, quick);
    expect(settled.stdout).toMatch(/Reconcile: 1 applied, 1 not applied, 0 still unknown/);
    expect(settled.stdout).toMatch(/applied \(reconciled\)/);
    expect(
      rows(
        "crash",
        "SELECT string_agg(outcome || ':' || (record->>'reconciled'), ',' ORDER BY seq) FROM users_mcp_audit WHERE phase = 'outcome'",
      ),
    ).toBe("applied:true,failed:true");
    expect(rows("crash", "SELECT count(*) FROM users_mcp_audit WHERE phase = 'intent'")).toBe("2");
    // list_writes and revert_write use the resolution: the applied write can be undone.
    const c = await serve(url);
    const listed = (await call(c, "list_writes", {})).structuredContent as { writes: Array<{ auditId: string; outcome: string }> };
    expect(listed.writes.map((w) => w.outcome).sort()).toEqual(["applied", "failed"]);
    const undone = await call(c, "revert_write", { auditId: listed.writes.find((w) => w.outcome === "applied")?.auditId });
    expect(undone.structuredContent, undone.content[0]?.text).toMatchObject({ applied: true });
    expect(lcUser().firstName).toBe("Sam");
    // A second reconcile finds nothing left to settle.
    expect((await cli(["audit", "--reconcile"], url, quick)).stdout).toMatch(/Reconcile: 0 applied, 0 not applied, 0 still unknown/);
  }, 180_000);
});

describe("reconcile at start", () => {
  /** Starts a server, lets one write reach the upstream (which applies it), and kills the server before it hears back. */
  async function killedMidWrite(start: () => Promise<Remote>, firstName: string): Promise<void> {
    const a = await start();
    sandbox.fault({ provider: "leadconnector", method: "PUT", kind: "hang" });
    const pending = call(a, "update_user", { userId: LC_USER, firstName }).catch(() => undefined);
    await until(() => sandbox.requestsTo("leadconnector", "PUT").some((r) => r.body.includes(firstName)), "the write upstream");
    a.child.kill("SIGKILL");
    await pending;
    sandbox.clearFaults();
    lcUser().firstName = firstName; // what the upstream did with the request the server never heard back from
    // Older than the deadline (8 s) and its grace (3 s), as a crash leaves it for the next start.
    await new Promise((r) => setTimeout(r, 12_000));
  }
  const quick = { USERS_MCP_TIMEOUT_MS: "8000" };

  it("PostgreSQL: a write killed between intent and outcome is settled when a server starts again, with no --reconcile", async () => {
    const url = pg.database("atstart");
    await killedMidWrite(() => serve(url, quick), "Samwise");
    expect(rows("atstart", "SELECT string_agg(phase, ',' ORDER BY seq) FROM users_mcp_audit")).toBe("intent");
    await serve(url, quick); // nothing else: the server settles it in the background after start
    const outcome = () =>
      rows("atstart", "SELECT string_agg(outcome || ':' || (record->>'reconciled'), ',') FROM users_mcp_audit WHERE phase = 'outcome'");
    await until(() => outcome() !== "", "the reconciled outcome");
    expect(outcome()).toBe("applied:true");
    expect(rows("atstart", "SELECT count(*) FROM users_mcp_audit WHERE phase = 'intent'")).toBe("1");
    lcUser().firstName = "Sam";
  }, 120_000);

  it("the audit file: a write killed between intent and outcome is settled when the server starts again, with no --reconcile", async () => {
    const dir = mkdtempSync(join(tmpdir(), "reconcile-at-start-"));
    const log = join(dir, "audit.jsonl");
    const fileEnv = sandboxEnv(sandbox, {
      ...isolatedEnv(),
      USERS_MCP_AUDIT_LOG: log,
      USERS_MCP_HTTP_TOKEN: "a-token-for-these-tests-0123",
      ...quick,
    });
    const start = async () => {
      const s = await startHttp(fileEnv);
      servers.push(s);
      return s;
    };
    await killedMidWrite(start, "Samantha");
    const records = () =>
      readFileSync(log, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { id: string; phase: string; outcome?: string; reconciled?: boolean });
    expect(records().map((r) => r.phase)).toEqual(["intent"]);
    const started = Date.now();
    await start(); // nothing else: the server settles it in the background a few seconds after start
    await until(() => records().some((r) => r.phase === "outcome"), "the reconciled outcome");
    process.stderr.write(`reconcile at start (audit file): settled ${Date.now() - started} ms after the start began\n`);
    const [intent, outcome] = records();
    expect(outcome).toMatchObject({ id: intent?.id, phase: "outcome", outcome: "applied", reconciled: true });
    expect(records()).toHaveLength(2);
    lcUser().firstName = "Sam";
  }, 120_000);
});

async function until(ok: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

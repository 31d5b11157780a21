// @module-tag slow: a real PostgreSQL (installed by scripts/ensure-postgres.mjs when missing)
import { execFile } from "node:child_process";
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

import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect } from "vitest";
import { SANDBOX_TWOSMS_USER_ID } from "../src/sandbox/twosms.js";
import { out, text, writeTest } from "./fixture.js";
import { runCli, SANDBOX_CREDENTIALS, startServer, until } from "./harness.js";

const LC_USER = "0IHuJvc2ofPAAA8GzTRi";
const GDPR_USER = SANDBOX_TWOSMS_USER_ID;
const it = writeTest();

describe("audit records for every outcome", () => {
  it("applied, unchanged, conflict, failed and unknown, each with what changed and no secret; file 0600 in a 0700 directory", async ({
    sandbox,
    audit,
    env,
  }) => {
    const s = await startServer(env({ USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "true" }));
    try {
      const call = (tool: string, args: Record<string, unknown>) =>
        s.client.callTool({ name: tool, arguments: args }) as Promise<CallToolResult>;
      expect(out(await call("update_user", { userId: LC_USER, firstName: "Jon", password: "canary-password-771" })).applied).toBe(true);
      expect(out(await call("update_user", { userId: LC_USER, firstName: "Jon" })).applied).toBe(false); // unchanged
      const dry = await call("update_gdpr", { userId: GDPR_USER, timeZone: "Eastern Standard Time", dryRun: true });
      await call("update_gdpr", { userId: GDPR_USER, timeZone: "Central Standard Time" });
      const conflict = await call("update_gdpr", {
        userId: GDPR_USER,
        timeZone: "Eastern Standard Time",
        previewToken: out(dry).previewToken,
      });
      expect(text(conflict)).toMatch(/^Conflict/);
      sandbox.fault({
        provider: "leadconnector",
        method: "PUT",
        status: 422,
        body: { statusCode: 422, message: ["phone is invalid"], error: "Unprocessable Entity" },
      });
      const failed = await call("update_user", { userId: LC_USER, phone: "+15555550100" });
      expect(failed.isError).toBe(true);
      sandbox.fault({ provider: "twosms", method: "POST", path: /UserUpdateGDPR/, status: 500, body: { Message: "boom" } });
      const unknown = await call("update_gdpr", { userId: GDPR_USER, displayName: "Priya S." });
      expect(text(unknown)).toMatch(/may or may not have been applied/);
    } finally {
      await s.close();
    }
    const lines = audit.records();
    expect(lines.map((l) => [l.tool, l.phase, l.outcome ?? null])).toEqual([
      ["update_user", "intent", null],
      ["update_user", "outcome", "applied"],
      ["update_user", "outcome", "unchanged"],
      ["update_gdpr", "intent", null],
      ["update_gdpr", "outcome", "applied"],
      ["update_gdpr", "outcome", "conflict"],
      ["update_user", "intent", null],
      ["update_user", "outcome", "failed"],
      ["update_gdpr", "intent", null],
      ["update_gdpr", "outcome", "unknown"],
    ]);
    for (const l of lines) {
      expect(l).toMatchObject({
        id: expect.any(String),
        time: expect.any(String),
        provider: expect.any(String),
        target: expect.any(String),
      });
      expect(l.client).toEqual({ name: "e2e", version: "1.0.0" });
      expect(l.sandbox).toBeUndefined();
    }
    expect(lines[0]?.changes).toEqual([
      { field: "firstName", before: "John", after: "Jon" },
      { field: "password", before: "[redacted]", after: "[redacted]" },
    ]);
    expect(lines[7]).toMatchObject({ requestId: expect.stringMatching(/^sbx-/), error: expect.stringMatching(/422/) });
    const raw = readFileSync(audit.path, "utf8");
    for (const secret of ["canary-password-771", SANDBOX_CREDENTIALS.leadconnectorToken, SANDBOX_CREDENTIALS.twosmsClientSecret])
      expect(raw).not.toContain(secret);
    expect(statSync(audit.path).mode & 0o777).toBe(0o600);
    expect(statSync(join(audit.dir, "state", "users-mcp")).mode & 0o777).toBe(0o700);
  });

  it("marks sandbox writes, and records a declined write once", async ({ audit }) => {
    const s = await startServer({ USERS_MCP_AUDIT_LOG: audit.path }, ["--sandbox"], [], { elicit: () => ({ action: "decline" }) });
    try {
      await s.client.callTool({ name: "update_user", arguments: { userId: LC_USER, firstName: "Jon" } });
      await s.client.callTool({ name: "update_user", arguments: { userId: LC_USER, role: "user" } });
    } finally {
      await s.close();
    }
    expect(audit.records().map((l) => [l.phase, l.outcome ?? null, l.confirmation, l.sandbox])).toEqual([
      ["intent", null, "not_asked", true],
      ["outcome", "applied", "not_asked", true],
      ["outcome", "declined", "declined", true],
    ]);
  });
});

describe("the sandbox's own audit log", () => {
  it("--sandbox records its fake writes in sandbox-audit.jsonl beside the real log, says where, and `audit --sandbox` reads it", async ({
    audit,
  }) => {
    const state = join(audit.dir, "state");
    const home = { XDG_STATE_HOME: state };
    const s = await startServer(home, ["--sandbox"]);
    try {
      const r = (await s.client.callTool({ name: "update_user", arguments: { userId: LC_USER, firstName: "Jon" } })) as CallToolResult;
      expect(out(r).applied, text(r)).toBe(true);
      const own = join(state, "users-mcp", "sandbox-audit.jsonl");
      expect(s.stderr.join("")).toContain(`its writes are recorded in ${own}`);
      expect(readFileSync(own, "utf8")).toContain(String(out(r).auditId));
      const table = await runCli(["audit", "--sandbox"], home);
      expect(table.stdout).toContain(`Audit log ${own}`);
      expect(table.stdout).toContain(String(out(r).auditId));
    } finally {
      await s.close();
    }
    // The real log was never touched: a later session without --sandbox lists nothing it cannot undo.
    const real = await runCli(["audit"], home);
    expect(real.stdout).toMatch(/No writes recorded yet \(.*state\/users-mcp\/audit\.jsonl does not exist\)/);
  });
});

describe("fail closed", () => {
  it("refuses a write whose intent cannot be recorded, naming the path and the reason, and sends nothing; reads go on", async ({
    sandbox,
    audit,
    env,
  }) => {
    const blocker = join(audit.dir, "not-a-dir");
    writeFileSync(blocker, "");
    const s = await startServer(env({ USERS_MCP_AUDIT_LOG: join(blocker, "audit.jsonl") }));
    try {
      const r = (await s.client.callTool({ name: "update_user", arguments: { userId: LC_USER, firstName: "Jon" } })) as CallToolResult;
      expect(r.isError).toBe(true);
      expect(text(r)).toContain(`the audit log at ${join(blocker, "audit.jsonl")} cannot be written (`);
      expect(text(r)).toMatch(/not a directory/);
      expect(text(r)).toMatch(/Nothing was sent upstream.*USERS_MCP_AUDIT_LOG/s);
      expect(sandbox.requestsTo("leadconnector", "PUT")).toHaveLength(0);
      const read = (await s.client.callTool({ name: "get_current_user", arguments: {} })) as CallToolResult;
      expect(read.isError).toBeFalsy();
    } finally {
      await s.close();
    }
    const doctor = await runCli(["doctor"], env({ USERS_MCP_AUDIT_LOG: join(blocker, "audit.jsonl") }));
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/Audit log: .*not-a-dir\/audit\.jsonl: NOT writable \(E[A-Z]+: .*not a directory/);
  });

  it("USERS_MCP_AUDIT_LOG=off writes without a log, and doctor says so", async ({ audit, env }) => {
    const s = await startServer(env({ USERS_MCP_AUDIT_LOG: "off" }));
    try {
      const r = (await s.client.callTool({ name: "update_user", arguments: { userId: LC_USER, firstName: "Jon" } })) as CallToolResult;
      expect(out(r)).toMatchObject({ applied: true });
      expect(out(r).auditId).toBeUndefined();
    } finally {
      await s.close();
    }
    const doctor = await runCli(["doctor"], env({ USERS_MCP_AUDIT_LOG: "off" }));
    expect(doctor.stdout).toMatch(/Audit log: off/);
    const ok = await runCli(["doctor"], env());
    expect(ok.stdout).toContain(`Audit log: ${audit.path} (writable)`);
  });
});

describe("a process killed mid-write", () => {
  it("leaves the intent on disk, and users-mcp audit reports the write as unknown with a hint", async ({ sandbox, audit, env }) => {
    sandbox.fault({ provider: "twosms", method: "POST", path: /UserUpdateGDPR/, kind: "hang" });
    const s = await startServer(env({ USERS_MCP_TIMEOUT_MS: "20000" }));
    const pending = s.client
      .callTool({ name: "update_gdpr", arguments: { userId: GDPR_USER, displayName: "Priya S." } })
      .catch(() => undefined);
    await until(() => sandbox.requestsTo("twosms", "POST").some((r) => r.path.includes("UserUpdateGDPR")));
    s.transport.child?.kill("SIGKILL");
    await pending;
    await until(() => s.transport.exitCode !== undefined);

    expect(audit.records()).toEqual([expect.objectContaining({ phase: "intent", tool: "update_gdpr", target: GDPR_USER })]);
    const table = await runCli(["audit"], { USERS_MCP_AUDIT_LOG: audit.path });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/update_gdpr\s+950c|update_gdpr\s+[0-9a-f-]{36}\s+displayName\s+unknown\*\s+not_asked/);
    expect(table.stdout).toMatch(/may or may not\s+have been applied\. `users-mcp audit --reconcile` reads the record/);
    const json = await runCli(["audit", "--json", "--target", GDPR_USER], { USERS_MCP_AUDIT_LOG: audit.path });
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({ tool: "update_gdpr", outcome: "unknown", incomplete: true, fields: ["displayName"] }),
    ]);
  });
});

describe("users-mcp audit", () => {
  it("filters by target and time, prints JSON, and explains bad options", async ({ audit }) => {
    mkdirSync(join(audit.dir, "state", "users-mcp"), { recursive: true });
    const rec = (id: string, time: string, target: string, phase: string, outcome?: string) =>
      JSON.stringify({
        id,
        time,
        phase,
        ...(outcome ? { outcome } : {}),
        tool: "update_user",
        provider: "leadconnector",
        target,
        changes: [{ field: "role", before: "admin", after: "user" }],
        confirmation: "accepted",
      });
    writeFileSync(
      audit.path,
      [
        rec("a", "2026-11-01T10:00:00.000Z", "u1", "intent"),
        rec("a", "2026-11-01T10:00:01.000Z", "u1", "outcome", "applied"),
        rec("b", "2026-11-20T10:00:00.000Z", "u2", "outcome", "declined"),
        "not json",
        "",
      ].join("\n"),
    );
    const all = await runCli(["audit"], { USERS_MCP_AUDIT_LOG: audit.path });
    expect(all.stdout).toMatch(/time\s+tool\s+target\s+fields\s+outcome\s+confirmation\s+auditId/);
    expect(all.stdout).toMatch(/2026-11-01T10:00:00.000Z\s+update_user\s+u1\s+role\s+applied\s+accepted\s+a\n/);
    expect(all.stdout).toMatch(/u2\s+role\s+declined/);
    expect(all.stderr).toMatch(/1 line could not be read: \d+ \(not whole audit records; skipped\)/);
    const since = await runCli(["audit", "--json", "--since", "2026-11-10"], { USERS_MCP_AUDIT_LOG: audit.path });
    expect(JSON.parse(since.stdout).map((e: { id: string }) => e.id)).toEqual(["b"]);
    const target = await runCli(["audit", "--json", "--target", "u1"], { USERS_MCP_AUDIT_LOG: audit.path });
    expect(JSON.parse(target.stdout)).toEqual([expect.objectContaining({ id: "a", outcome: "applied", confirmation: "accepted" })]);
    const bad = await runCli(["audit", "--since", "last week"], { USERS_MCP_AUDIT_LOG: audit.path });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since must be an ISO date/);
    const none = await runCli(["audit"], { USERS_MCP_AUDIT_LOG: join(audit.dir, "nothing.jsonl") });
    expect(none.stdout).toMatch(/No writes recorded yet/);
    const stray = await runCli(["--json"]);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/--json goes with the audit command/);
  });
});

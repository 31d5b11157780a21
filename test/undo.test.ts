import type { CallToolResult, ElicitRequest } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect } from "vitest";
import { SANDBOX_TWOSMS_USER_ID } from "../src/sandbox/twosms.js";
import { out, text, type WriteFixtures, writeTest } from "./fixture.js";
import { type Answer, runCli, SANDBOX_CREDENTIALS, type StdioServer, startServer } from "./harness.js";
import { MCP_HEADERS, type Remote, startHttp } from "./http-harness.js";

// list_writes and revert_write through the SDK's client over stdio (and HTTP caller mode for tenants),
// against the loopback stand-ins, with a real audit log file.

const LC_USER = "0IHuJvc2ofPAAA8GzTRi";
const GDPR_USER = SANDBOX_TWOSMS_USER_ID;

const it = writeTest();

async function withServer(
  env: WriteFixtures["env"],
  run: (call: (tool: string, args: Record<string, unknown>) => Promise<CallToolResult>, s: StdioServer) => Promise<void>,
  extra: Record<string, string> = {},
  elicit?: Answer,
): Promise<void> {
  const s = await startServer(env({ USERS_MCP_CONFIRM: elicit ? "ask" : "off", ...extra }), [], [], elicit ? { elicit } : {});
  try {
    await run((tool, args) => s.client.callTool({ name: tool, arguments: args }) as Promise<CallToolResult>, s);
  } finally {
    await s.close();
  }
}

/** The compliance record a revert_write result shows (under `record`, as update_compliance shows it). */
const compliance = (r: CallToolResult) => (out(r).record as { compliance: Record<string, unknown> }).compliance;

describe("list_writes", () => {
  it("lists writes newest first with each change, filters by target, tool, time and limit", async ({ env }) => {
    await withServer(env, async (call) => {
      const a = out(await call("update_compliance", { compliance: { licensedStates: { add: ["CA"] } } }));
      const b = out(await call("update_user", { userId: LC_USER, firstName: "Jon" }));
      const c = out(await call("update_gdpr", { userId: GDPR_USER, displayName: "Priya S." }));
      await call("update_user", { userId: LC_USER, firstName: "Jon", dryRun: true }); // a dry run is no write

      const all = out(await call("list_writes", {}));
      expect((all.writes as Array<{ auditId: string }>).map((w) => w.auditId)).toEqual([c.auditId, b.auditId, a.auditId]);
      expect((all.writes as unknown[])[1]).toMatchObject({
        tool: "update_user",
        provider: "leadconnector",
        target: LC_USER,
        outcome: "applied",
        confirmation: "not_asked",
        changes: [{ field: "firstName", after: "Jon" }],
      });
      expect(out(await call("list_writes", { target: LC_USER })).count).toBe(1);
      expect(out(await call("list_writes", { tool: "update_gdpr" })).count).toBe(1);
      expect(out(await call("list_writes", { limit: 2 })).count).toBe(2);
      expect(out(await call("list_writes", { since: "2999-01-01T00:00:00Z" })).count).toBe(0);
      const bad = await call("list_writes", { since: "yesterday", limit: 500 });
      expect(text(bad)).toMatch(/since: must be an ISO 8601 date[\s\S]*limit:/);
    });
  });

  it("with the audit log off, says so and names USERS_MCP_AUDIT_LOG; it is served in --read-only", async ({ env }) => {
    await withServer(
      env,
      async (call, s) => {
        const r = await call("list_writes", {});
        expect(r.isError).toBe(true);
        expect(text(r)).toContain("The audit log is off on this server (USERS_MCP_AUDIT_LOG=off)");
        const names = (await s.client.listTools()).tools.map((t) => t.name);
        expect(names).toContain("list_writes");
        expect(names).not.toContain("revert_write");
      },
      { USERS_MCP_AUDIT_LOG: "off", USERS_MCP_READ_ONLY: "true" },
    );
  });
});

const FLOWS = [
  {
    tool: "update_compliance",
    write: { compliance: { licensedProducts: { add: ["Annuities"] }, acceptedTerms: false } },
    read: ["get_current_user", {}] as const,
    holds: (r: Record<string, unknown>) => (r.compliance as { acceptedTerms: boolean }).acceptedTerms === true,
  },
  {
    tool: "update_user",
    write: { userId: LC_USER, lastName: "Undone" },
    read: ["get_user", { userId: LC_USER }] as const,
    holds: (r: Record<string, unknown>) => r.lastName !== "Undone",
  },
  {
    tool: "update_gdpr",
    write: { userId: GDPR_USER, displayName: "To Be Undone" },
    read: ["get_gdpr_user", { userId: GDPR_USER }] as const,
    holds: (r: Record<string, unknown>) => (r.user as { displayName: string }).displayName === "Priya Shah",
  },
];

describe.each(FLOWS)("revert_write on $tool", ({ tool, write, read, holds }) => {
  it("lists the write, previews its undo, undoes it once, and refuses a second time; records carry revertOf", async ({ audit, env }) => {
    await withServer(env, async (call) => {
      const w = out(await call(tool, write));
      expect(w.applied).toBe(true);
      expect(holds(out(await call(read[0], read[1])))).toBe(false);
      const listed = (out(await call("list_writes", { tool })).writes as Array<{ auditId: string }>)[0];
      expect(listed?.auditId).toBe(w.auditId);
      const dry = out(await call("revert_write", { auditId: w.auditId, dryRun: true }));
      expect(dry).toMatchObject({ applied: false, dryRun: true });
      expect(holds(out(await call(read[0], read[1])))).toBe(false);
      const undo = await call("revert_write", { auditId: w.auditId });
      expect(undo.isError, text(undo)).toBeFalsy();
      expect(out(undo).applied).toBe(true);
      expect(holds(out(await call(read[0], read[1])))).toBe(true);
      const twice = await call("revert_write", { auditId: w.auditId });
      expect(twice.isError, text(twice)).toBeFalsy();
      expect(out(twice)).toMatchObject({ applied: false, changed: [], message: expect.stringContaining("already undone") });
      const top = (out(await call("list_writes", { limit: 2 })).writes as Array<Record<string, unknown>>) ?? [];
      expect(top[0]).toMatchObject({ tool, revertOf: w.auditId, outcome: "applied" });
      expect(top[1]).toMatchObject({ auditId: w.auditId, revertedBy: out(undo).auditId });
    });
    expect(
      audit
        .records()
        .filter((r) => r.revertOf)
        .map((r) => [r.tool, r.phase]),
    ).toEqual([
      [tool, "intent"],
      [tool, "outcome"],
    ]);
  });
});

describe("revert_write, for each write tool", () => {
  it("update_compliance: dry run, revert, revert twice; later list additions are kept", async ({ sandbox, audit, env }) => {
    await withServer(env, async (call) => {
      const first = out(await call("update_compliance", { compliance: { licensedStates: { add: ["CA"] }, acceptedEmail: false } }));
      await call("update_compliance", { compliance: { licensedStates: { add: ["NY"] } } });
      const dry = await call("revert_write", { auditId: first.auditId, dryRun: true });
      expect(out(dry)).toMatchObject({ applied: false, dryRun: true });
      expect(out(dry).changed).toEqual([
        { field: "acceptedEmail", before: false, after: true },
        { field: "licensedStates", before: ["TX", "OK", "CA", "NY"], after: ["TX", "OK", "NY"] },
      ]);
      expect(sandbox.requestsTo("leadping", "PUT")).toHaveLength(2);

      const undo = await call("revert_write", { auditId: first.auditId, previewToken: out(dry).previewToken });
      expect(undo.isError, text(undo)).toBeFalsy();
      expect(out(undo).message).toContain(`This undoes write ${first.auditId}`);
      expect(compliance(undo)).toMatchObject({ acceptedEmail: true, licensedStates: ["TX", "OK", "NY"] });

      const again = await call("revert_write", { auditId: first.auditId });
      // A plain result like "already holds the earlier values": the record is where the caller wants it.
      expect(again.isError, text(again)).toBeFalsy();
      expect(out(again)).toMatchObject({ applied: false, dryRun: false, changed: [], confirmation: "not_asked" });
      expect(out(again).message).toBe(
        `Nothing to undo: write ${first.auditId} was already undone by write ${out(undo).auditId}. Nothing was written.`,
      );
      expect(sandbox.requestsTo("leadping", "PUT")).toHaveLength(3);

      const listed = out(await call("list_writes", { limit: 1 })).writes as Array<Record<string, unknown>>;
      expect(listed[0]).toMatchObject({ auditId: out(undo).auditId, revertOf: first.auditId, tool: "update_compliance" });
    });
    const table = await runCli(["audit"], { USERS_MCP_AUDIT_LOG: audit.path });
    expect(table.stdout).toMatch(/update_compliance .*applied \(undo of [0-9a-f]{8}\)/);
    const undoRecords = audit.records().filter((r) => r.revertOf);
    expect(undoRecords.map((r) => [r.phase, r.outcome ?? null])).toEqual([
      ["intent", null],
      ["outcome", "applied"],
    ]);
    // The table shows each write's whole id, the one revert_write takes.
    expect(table.stdout).toMatch(/confirmation\s+auditId\n/);
    for (const r of audit.records()) expect(table.stdout).toContain(String(r.id));
  });

  it("two undos of one write at once: one applies, the other answers already undone as a plain result", async ({ sandbox, env }) => {
    await withServer(env, async (call) => {
      const first = out(await call("update_user", { userId: LC_USER, firstName: "Jon" }));
      const both = await Promise.all([1, 2].map(() => call("revert_write", { auditId: first.auditId })));
      for (const r of both) expect(r.isError, text(r)).toBeFalsy();
      const applied = both.filter((r) => out(r).applied);
      expect(applied).toHaveLength(1);
      const other = both.find((r) => !out(r).applied);
      expect(out(other as CallToolResult).message).toBe(
        `Nothing to undo: write ${first.auditId} was already undone by write ${out(applied[0] as CallToolResult).auditId}. Nothing was written.`,
      );
      expect(sandbox.requestsTo("leadconnector", "PUT")).toHaveLength(2);
    });
  });

  it("update_user: a scalar that moved since is a Conflict naming what the write left and what is there now", async ({ sandbox, env }) => {
    await withServer(env, async (call) => {
      const first = out(await call("update_user", { userId: LC_USER, firstName: "Jon", lastName: "Snow" }));
      await call("update_user", { userId: LC_USER, firstName: "Jim" });
      const r = await call("revert_write", { auditId: first.auditId });
      expect(r.isError).toBe(true);
      expect(text(r)).toContain(`Conflict: the record changed since write ${first.auditId}, so nothing was written.`);
      expect(text(r)).toContain('- firstName: the write left "Jon", now "Jim"');
      expect(sandbox.requestsTo("leadconnector", "PUT")).toHaveLength(2);
    });
  });

  it("update_user: a write whose fields already hold their earlier values writes nothing and says so", async ({ sandbox, env }) => {
    await withServer(env, async (call) => {
      const before = out(await call("get_user", { userId: LC_USER })).firstName;
      const first = out(await call("update_user", { userId: LC_USER, firstName: "Jon" }));
      await call("update_user", { userId: LC_USER, firstName: before });
      const r = await call("revert_write", { auditId: first.auditId });
      expect(r.isError, text(r)).toBeFalsy();
      expect(out(r)).toMatchObject({ applied: false });
      expect(out(r).message).toBe(
        `Nothing to undo: the record already holds the values from before write ${first.auditId}. Nothing was written.`,
      );
      expect(sandbox.requestsTo("leadconnector", "PUT")).toHaveLength(2);
    });
  });

  it("update_gdpr: credentials cannot be restored; skipCredentials reverts the rest and says what was left", async ({ sandbox, env }) => {
    await withServer(
      env,
      async (call) => {
        const pinOnly = out(await call("update_gdpr", { userId: GDPR_USER, pin: "4821" }));
        const r1 = await call("revert_write", { auditId: pinOnly.auditId });
        expect(text(r1)).toContain(`Write ${pinOnly.auditId} changed only pin, which cannot be restored`);
        expect(text(r1)).toContain("the 2SMS portal");

        const mixed = out(await call("update_gdpr", { userId: GDPR_USER, displayName: "P. Shah", password: "new-password-1234" }));
        const r2 = await call("revert_write", { auditId: mixed.auditId });
        expect(text(r2)).toContain(`Write ${mixed.auditId} also changed password, which cannot be restored`);
        expect(text(r2)).toContain("skipCredentials: true");
        const posts = sandbox.requestsTo("twosms", "POST").filter((q) => q.path.includes("UserUpdateGDPR")).length;

        const r3 = await call("revert_write", { auditId: mixed.auditId, skipCredentials: true });
        expect(r3.isError, text(r3)).toBeFalsy();
        expect(out(r3).changed).toEqual([{ field: "displayName", before: "P. Shah", after: "Priya Shah" }]);
        expect(out(r3).message).toContain("Left as they are (they cannot be restored): password.");
        expect(sandbox.requestsTo("twosms", "POST").filter((q) => q.path.includes("UserUpdateGDPR")).length).toBe(posts + 1);
      },
      { USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "true" },
    );
  });

  it("unknown id, and a write that was not applied, are refused; nothing is sent", async ({ sandbox, env }) => {
    await withServer(env, async (call) => {
      const r = await call("revert_write", { auditId: "00000000-0000-4000-8000-000000000000" });
      expect(text(r)).toContain('No write with id "00000000-0000-4000-8000-000000000000" in this server\'s audit log');
      sandbox.fault({ provider: "leadconnector", method: "PUT", status: 422, body: { statusCode: 422, message: ["phone is invalid"] } });
      await call("update_user", { userId: LC_USER, phone: "+15555550100" });
      const failed = (out(await call("list_writes", { limit: 1 })).writes as Array<{ auditId: string }>)[0]?.auditId;
      const r2 = await call("revert_write", { auditId: failed });
      expect(text(r2)).toContain(`Nothing to undo: write ${failed} was not applied (outcome: failed)`);
      expect(sandbox.requestsTo("leadconnector", "PUT")).toHaveLength(1);
    });
  });

  it("undoing a consent grant is a withdrawal: the person is asked, and a decline writes nothing", async ({ sandbox, audit, env }) => {
    const asked: ElicitRequest["params"][] = [];
    await withServer(
      env,
      async (call) => {
        const grant = out(await call("update_compliance", { compliance: { acceptedBaa: true } }));
        expect(grant.confirmation).toBe("not_asked");
        const r = await call("revert_write", { auditId: grant.auditId });
        expect(out(r)).toMatchObject({ applied: false, confirmation: "declined" });
        expect(asked).toHaveLength(1);
        expect(asked[0]?.message).toMatch(/^Withdraw acceptance of the Business Associate Agreement for Avery Quinn on Leadping\?/);
        expect(sandbox.requestsTo("leadping", "PUT")).toHaveLength(1);
      },
      {},
      (p) => {
        asked.push(p);
        return { action: "decline" };
      },
    );
    const declined = audit.records().filter((r) => r.revertOf);
    expect(declined.map((r) => [r.phase, r.outcome, r.confirmation])).toEqual([["outcome", "declined", "declined"]]);
  });

  it("an id from the log on disk survives a restart", async ({ env }) => {
    let id: unknown;
    await withServer(env, async (call) => {
      id = out(await call("update_gdpr", { userId: GDPR_USER, timeZone: "Eastern Standard Time" })).auditId;
    });
    await withServer(env, async (call) => {
      const r = await call("revert_write", { auditId: id });
      expect(r.isError, text(r)).toBeFalsy();
      expect(out(r).changed).toEqual([{ field: "timeZone", before: "Eastern Standard Time", after: "GMT Standard Time" }]);
    });
  });
});

describe("tenants in caller mode", () => {
  /** A tools/call over HTTP with a caller's own Leadping token. */
  const caller = (r: Remote) => async (token: string, name: string, args: Record<string, unknown>) => {
    const res = await fetch(r.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-protocol-version": "2025-11-25", "x-leadping-token": token },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } }),
    });
    return ((await res.json()) as { result: CallToolResult }).result;
  };

  it("a tenant sees only its own writes, and another tenant's id is no write at all", async ({ sandbox, audit }) => {
    const r = await startHttp({
      USERS_MCP_HTTP_CREDENTIALS: "caller",
      LEADPING_BASE_URL: sandbox.baseUrls.leadping,
      USERS_MCP_AUDIT_LOG: audit.path,
      USERS_MCP_CONFIRM: "off",
    });
    try {
      const call = caller(r);
      const a = SANDBOX_CREDENTIALS.leadpingToken;
      const b = SANDBOX_CREDENTIALS.leadpingLegacyToken;
      const mine = out(await call(a, "update_compliance", { compliance: { licensedProducts: { add: ["Annuities"] } } }));
      expect(mine.applied).toBe(true);
      expect(out(await call(b, "list_writes", {})).count).toBe(0);
      const theirs = await call(b, "revert_write", { auditId: mine.auditId });
      expect(theirs.isError).toBe(true);
      expect(text(theirs)).toContain(`No write with id "${mine.auditId}"`);
      expect(out(await call(a, "list_writes", {})).count).toBe(1);
      const undo = await call(a, "revert_write", { auditId: mine.auditId });
      expect(undo.isError, text(undo)).toBeFalsy();
      expect((compliance(undo).licensedProducts as string[]).includes("Annuities")).toBe(false);
    } finally {
      await r.stop();
    }
  });
});

import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect } from "vitest";
import { parseRetryAfter } from "../src/client/request.js";
import { SANDBOX_TWOSMS_USER_ID } from "../src/sandbox/twosms.js";
import { text, writeTest } from "./fixture.js";
import { isolatedEnv, runCli, SERVER, startServer, until } from "./harness.js";

// The review's findings on stdio, with a real audit log file: a refused credential never blinds the
// log (2), every audit file operation has a deadline (5), the reader survives odd lines (10), the log
// is not led through a symlink (11), and the smaller ones (12, 13).

const GDPR_USER = SANDBOX_TWOSMS_USER_ID;
const it = writeTest();

describe("a refused password or PIN never becomes a secret", () => {
  it("update_gdpr with pin 2026, refused and dry-run, leaves every later audit timestamp and result intact", async ({ audit, env }) => {
    const year = new Date().toISOString().slice(0, 4);
    for (const allow of ["false", "true"]) {
      const s = await startServer(env({ USERS_MCP_ALLOW_CREDENTIAL_CHANGES: allow }));
      try {
        const call = (args: Record<string, unknown>) =>
          s.client.callTool({ name: "update_gdpr", arguments: args }) as Promise<CallToolResult>;
        const refused = await call({ userId: GDPR_USER, pin: year, ...(allow === "true" ? { dryRun: true } : {}) });
        if (allow === "false") expect(text(refused)).toContain("pin: credential changes are disabled");
        const write = await call({ userId: GDPR_USER, displayName: `Priya ${allow}` });
        expect(write.isError, text(write)).toBeFalsy();
        expect(text(write)).not.toContain("[redacted]");
      } finally {
        await s.close();
      }
    }
    for (const line of audit.lines()) {
      const record = JSON.parse(line) as { time: string };
      expect(record.time.startsWith(`${new Date().getUTCFullYear()}-`)).toBe(true);
      expect(line).not.toContain("[redacted]");
    }
    expect(audit.lines()).toHaveLength(4);
  });

  it("an accepted PIN is shown as [redacted] in the record, and a year in the data keeps its digits", async ({ audit, env }) => {
    const year = new Date().toISOString().slice(0, 4);
    const s = await startServer(env({ USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "true" }));
    try {
      const r = (await s.client.callTool({ name: "update_gdpr", arguments: { userId: GDPR_USER, pin: year } })) as CallToolResult;
      expect(r.isError, text(r)).toBeFalsy();
      expect(text(r)).toContain('"before":"(hidden)"');
      // The PIN is the year, and the record's dates keep it: a written value is no secret of the data.
      expect(text(r)).toMatch(new RegExp(`"dateModified":"${year}-`));
      expect(text(r)).not.toContain("[redacted]");
    } finally {
      await s.close();
    }
    const outcome = JSON.parse(audit.lines()[1] as string) as { time: string; changes: unknown };
    expect(outcome.time.slice(0, 4)).toBe(year);
    expect(outcome.changes).toEqual([{ field: "pin", before: "[redacted]", after: "[redacted]" }]);
  });
});

describe("every audit file operation has a deadline", { tags: ["slow"] }, () => {
  it("a FIFO nobody reads: the write is refused at once, naming the path, and the server keeps serving", async ({
    sandbox,
    audit,
    env,
  }) => {
    mkdirSync(dirname(audit.path), { recursive: true });
    spawnSync("mkfifo", [audit.path]);
    const s = await startServer(env({ USERS_MCP_TIMEOUT_MS: "2000" }));
    try {
      for (let i = 0; i < 2; i++) {
        const started = Date.now();
        const r = (await s.client.callTool({
          name: "update_gdpr",
          arguments: { userId: GDPR_USER, displayName: `P${i}` },
        })) as CallToolResult;
        expect(r.isError).toBe(true);
        expect(text(r)).toContain(`the audit log at ${audit.path} cannot be written`);
        expect(text(r)).toContain("Nothing was sent upstream");
        expect(text(r)).toContain("name a regular file");
        expect(Date.now() - started).toBeLessThan(2_000);
      }
      expect(sandbox.requestsTo("twosms", "POST").filter((q) => q.path.includes("UserUpdateGDPR"))).toEqual([]);
      const read = (await s.client.callTool({ name: "get_gdpr_user", arguments: { userId: GDPR_USER } })) as CallToolResult;
      expect(read.isError, text(read)).toBeFalsy();
    } finally {
      await s.close();
    }
  });

  it("a path whose mkdir never returns (/proc): refused as timed out, the record's queue moves on, SIGTERM still exits", async ({
    env,
  }) => {
    const hanging = "/proc/self/users-mcp/audit.jsonl";
    const s = await startServer(env({ USERS_MCP_AUDIT_LOG: hanging, USERS_MCP_TIMEOUT_MS: "600" }));
    try {
      const call = (name: string) =>
        s.client.callTool({ name: "update_gdpr", arguments: { userId: GDPR_USER, displayName: name } }) as Promise<CallToolResult>;
      // A first read pays for this process's first call (the call path, the 2SMS sign-in), which a loaded
      // machine can push past the 600 ms deadline; the writes below are about the audit file, not that.
      await s.client.callTool({ name: "get_gdpr_user", arguments: { userId: GDPR_USER } });
      // Two writes to one record: the second queues behind the first, and is answered when the first
      // is refused at its deadline (the queue moves on), not left waiting on a file operation.
      const [first, queued] = await Promise.all([call("Q0"), call("Q1")]);
      expect(text(first)).toMatch(/cannot be written \(mkdir timed out after \d+ ms\)/);
      expect(text(first)).toContain("put it on a local, responsive file system");
      expect(queued.isError).toBe(true);
      // The mkdir still holds a thread of Node's pool: a later write is refused at once, not piled on.
      const started = Date.now();
      const later = await call("Q2");
      expect(text(later)).toMatch(/cannot be written \(an earlier mkdir has not returned for \d+ s; timed out\)/);
      expect(Date.now() - started).toBeLessThan(500);
      const read = (await s.client.callTool({ name: "get_gdpr_user", arguments: { userId: GDPR_USER } })) as CallToolResult;
      expect(read.isError, text(read)).toBeFalsy();
    } finally {
      const started = Date.now();
      await s.close();
      expect(Date.now() - started).toBeLessThan(5_000);
    }
  });

  it("over HTTP, SIGTERM exits within the grace period while an audit operation hangs", async ({ sandbox, env }) => {
    const token = "grace-token-0123456789abcdef";
    const child = spawn(process.execPath, [SERVER, "--http", "--port", "0"], {
      env: {
        PATH: process.env.PATH,
        ...isolatedEnv(),
        ...env({ USERS_MCP_AUDIT_LOG: "/proc/self/users-mcp/audit.jsonl", USERS_MCP_HTTP_GRACE_MS: "1000", USERS_MCP_HTTP_TOKEN: token }),
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let exited: number | null | undefined;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("exit", (code) => {
      exited = code;
    });
    await until(() => /serving MCP over HTTP at (\S+)/.test(stderr), 10_000);
    const url = /serving MCP over HTTP at (\S+)/.exec(stderr)?.[1] as string;
    const pending = fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25",
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "update_gdpr", arguments: { userId: GDPR_USER, displayName: "R" } },
      }),
    }).then((r) => r.text(), String);
    // The call has read the record: what follows is its audit intent, which hangs on /proc.
    await until(() => sandbox.requestsTo("twosms", "GET").some((q) => q.path.includes(GDPR_USER)));
    const started = Date.now();
    child.kill("SIGTERM");
    await until(() => exited !== undefined, 10_000);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(exited).toBe(0);
    await pending;
  });
});

describe("the audit log's file", () => {
  it("a symlink in the last place is refused, and its target is not touched", async ({ audit, env }) => {
    mkdirSync(dirname(audit.path), { mode: 0o700, recursive: true });
    const target = join(audit.dir, "elsewhere.txt");
    writeFileSync(target, "not yours\n", { mode: 0o644 });
    symlinkSync(target, audit.path);
    const s = await startServer(env());
    try {
      const r = (await s.client.callTool({ name: "update_gdpr", arguments: { userId: GDPR_USER, displayName: "S" } })) as CallToolResult;
      expect(text(r)).toContain(
        `the audit log at ${audit.path} cannot be written (it is a symbolic link; name the real file in USERS_MCP_AUDIT_LOG)`,
      );
    } finally {
      await s.close();
    }
    expect(statSync(target).mode & 0o777).toBe(0o644);
    expect(readFileSync(target, "utf8")).toBe("not yours\n");
  });

  it("a directory this server creates is 0700; an existing one others can read gets a warning", async ({ audit, env }) => {
    const s = await startServer(env());
    try {
      await s.client.callTool({ name: "update_gdpr", arguments: { userId: GDPR_USER, displayName: "T" } });
    } finally {
      await s.close();
    }
    expect(statSync(dirname(audit.path)).mode & 0o777).toBe(0o700);

    const open = join(audit.dir, "shared");
    mkdirSync(open);
    chmodSync(open, 0o755);
    const t = await startServer(env({ USERS_MCP_AUDIT_LOG: join(open, "audit.jsonl") }));
    try {
      await t.client.callTool({ name: "update_gdpr", arguments: { userId: GDPR_USER, displayName: "U" } });
      await until(() => t.stderr.join("").includes("can be read by others"), 2_000);
      expect(t.stderr.join("")).toContain(`the audit log's directory ${open} can be read by others (mode 755); run chmod 700 ${open}`);
    } finally {
      await t.close();
    }
    expect(statSync(open).mode & 0o777).toBe(0o755); // not changed behind the operator's back
  });
});

describe("users-mcp audit reads tolerantly", () => {
  it("skips and counts odd lines by number, shows every record, and ends quietly on a closed pipe", async ({ audit, env }) => {
    const s = await startServer(env());
    try {
      for (const name of ["V", "W"]) await s.client.callTool({ name: "update_gdpr", arguments: { userId: GDPR_USER, displayName: name } });
    } finally {
      await s.close();
    }
    const good = audit.lines();
    const odd = [
      '{"changes":"abc"}',
      "[null]",
      '{"id":"x","phase":"outcome","outcome":"applied","changes":[],"confirmation":"not_asked"}',
      '{"id":"__proto__","time":"2026-01-01T00:00:00Z","phase":"intent","tool":"t","provider":"p","target":"x","changes":"no","confirmation":"not_asked"}',
      "not json at all",
    ];
    writeFileSync(audit.path, `${[good[0], ...odd, ...good.slice(1)].join("\n")}\n`);
    const r = await runCli(["audit", "--json"], { USERS_MCP_AUDIT_LOG: audit.path });
    expect(r.code).toBe(0);
    const entries = JSON.parse(r.stdout) as Array<{ outcome: string }>;
    expect(entries.map((e) => e.outcome)).toEqual(["applied", "applied"]);
    expect(r.stderr).toContain("5 lines could not be read: 2, 3, 4, 5, 6");

    const table = await runCli(["audit"], { USERS_MCP_AUDIT_LOG: audit.path });
    expect(table.stdout).toContain("update_gdpr");
    expect(table.stdout).not.toContain("No writes recorded");

    // `users-mcp audit | head -1`: the reader closes the pipe early.
    const piped = spawnSync("sh", ["-c", `"${process.execPath}" "${SERVER}" audit --limit 0 | head -1`], {
      env: { PATH: process.env.PATH, ...isolatedEnv(), USERS_MCP_AUDIT_LOG: audit.path },
      encoding: "utf8",
    });
    expect(piped.stdout.split("\n")[0]).toContain("Audit log");
    expect(piped.stderr).not.toMatch(/EPIPE|Error|at /);
  });
});

describe("the smaller findings", () => {
  it("Retry-After that is negative or not a number or date counts as absent", () => {
    expect(parseRetryAfter("-5")).toBeUndefined();
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter("2026")).toBe(2_026_000);
    expect(parseRetryAfter("1e3")).toBeUndefined();
    expect(parseRetryAfter(new Date(Date.now() + 5_000).toUTCString())).toBeGreaterThan(3_000);
    expect(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT")).toBe(0);
  });

  it("a USERS_MCP_HTTP_TOKEN with whitespace stops start-up", async () => {
    const r = await runCli(["--http", "--port", "0", "--sandbox"], { USERS_MCP_HTTP_TOKEN: "abcdefgh ijklmnopqrstuvwxyz" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("USERS_MCP_HTTP_TOKEN contains whitespace");
    expect(r.stderr).not.toContain("ijklmnopqrstuvwxyz");
  });

  it("a top-level __proto__, constructor or prototype argument is refused by name over stdio", async ({ sandbox, env }) => {
    const s = await startServer(env());
    try {
      // The SDK's client would drop a __proto__ key while building the request: send the raw line.
      const raw = (args: string, id: number) =>
        `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"update_gdpr","arguments":${args}}}`;
      const args = [
        `{"userId":"${GDPR_USER}","__proto__":{"displayName":"X"}}`,
        `{"userId":"${GDPR_USER}","constructor":"X"}`,
        `{"userId":"${GDPR_USER}","prototype":"X"}`,
      ];
      args.forEach((a, i) => {
        s.transport.writeRaw(`${raw(a, 900 + i)}\n`);
      });
      const answer = (id: number) => s.stdoutLines().find((l) => l.includes(`"id":${id}`));
      await until(() => [900, 901, 902].every((id) => answer(id) !== undefined), 5_000);
      expect([900, 901, 902].map(answer)).toEqual([
        expect.stringContaining("- __proto__: a reserved name"),
        expect.stringContaining("- constructor: a reserved name"),
        expect.stringContaining("- prototype: a reserved name"),
      ]);
      expect(sandbox.requests).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it("a refusal names the offending value again: licensedStates [TX, ZZ] says ZZ", async ({ env }) => {
    const s = await startServer(env());
    try {
      const r = (await s.client.callTool({
        name: "update_compliance",
        arguments: { compliance: { licensedStates: ["TX", "ZZ"] } },
      })) as CallToolResult;
      expect(text(r)).toContain(
        '- compliance.licensedStates[1]: not a US state or territory code: use two-letter USPS codes such as CA, NY, DC, PR (got "ZZ")',
      );
    } finally {
      await s.close();
    }
  });
});

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { SANDBOX_TWOSMS_USER_ID } from "../src/sandbox/twosms.js";
import { PREVIEW_TTL_MS, PreviewTokens } from "../src/writes/preview.js";
import { type Harness, SANDBOX_CREDENTIALS, startHarness, until } from "./harness.js";

const LC_USER = "0IHuJvc2ofPAAA8GzTRi";
const LC_OTHER = "aB3dE5gH7jK9mN1pQ3sT";
const GDPR_USER = SANDBOX_TWOSMS_USER_ID;
const GDPR_OTHER = "950c5cc3-a161-4d7e-858c-c8359d79b2a9";

const auditFile = () => join(mkdtempSync(join(tmpdir(), "users-mcp-audit-")), "audit.jsonl");
const out = (r: CallToolResult) => r.structuredContent as Record<string, unknown>;
const compliance = (h: Harness) =>
  h.sandbox.state.leadping.userFor(SANDBOX_CREDENTIALS.leadpingToken)?.compliance as Record<string, unknown>;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { USERS_MCP_CONFIRM: "off" } });
});
beforeEach(() => h.sandbox.reset());
afterAll(() => h.close());

describe("parallel writes to one record lose nothing", () => {
  it("update_compliance: three calls sent together all land", async () => {
    const results = await Promise.all([
      h.call("update_compliance", { compliance: { acceptedSms: false } }),
      h.call("update_compliance", { compliance: { licensedStates: ["TX", "CA", "NY"] } }),
      h.call("update_compliance", { compliance: { acceptedBaa: true } }),
    ]);
    for (const r of results) expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    expect(compliance(h)).toMatchObject({ acceptedSms: false, licensedStates: ["TX", "CA", "NY"], acceptedBaa: true });
    // Each write read what the one before it left: reads and writes alternate on the wire.
    expect(h.sandbox.requestsTo("leadping").map((r) => r.method)).toEqual(["GET", "PUT", "GET", "PUT", "GET", "PUT"]);
  });

  it("update_gdpr: display name and time zone sent together both land", async () => {
    const results = await Promise.all([
      h.call("update_gdpr", { userId: GDPR_USER, displayName: "Priya S." }),
      h.call("update_gdpr", { userId: GDPR_USER, timeZone: "Eastern Standard Time" }),
    ]);
    for (const r of results) expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    expect(h.sandbox.state.twosms.user(GDPR_USER)).toMatchObject({ DisplayName: "Priya S.", TimeZone: "Eastern Standard Time" });
  });

  it("update_user: five parallel scope additions all land", async () => {
    const scopes = ["locations.readonly", "users.readonly", "calendars.write", "opportunities.readonly", "medias.readonly"];
    const results = await Promise.all(scopes.map((s) => h.call("update_user", { userId: LC_USER, scopes: { add: [s] } })));
    for (const r of results) expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const got = await h.call("update_user", { userId: LC_USER, firstName: "John", dryRun: true });
    expect((out(got).user as { scopes: string[] }).scopes).toEqual(["contacts.write", "campaigns.readonly", ...scopes]);
  });

  it("five parallel {add} calls on licensedStates all land", async () => {
    const states = ["CA", "NY", "FL", "WA", "PR"];
    const results = await Promise.all(states.map((s) => h.call("update_compliance", { compliance: { licensedStates: { add: [s] } } })));
    for (const r of results) expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    expect([...(compliance(h).licensedStates as string[])].sort()).toEqual(["CA", "FL", "NY", "OK", "PR", "TX", "WA"]);
  });

  it("writes to different records run concurrently; writes to one record do not overlap", async () => {
    // Each read takes 300 ms, so overlapping calls show in the sandbox's arrival times.
    h.sandbox.fault({ provider: "twosms", method: "GET", path: /admin\/users/, delayMs: 300, kind: "pass", times: 2 });
    const started = Date.now();
    const [a, b] = await Promise.all([
      h.call("update_gdpr", { userId: GDPR_USER, timeZone: "Eastern Standard Time" }),
      h.call("update_gdpr", { userId: GDPR_OTHER, timeZone: "Eastern Standard Time" }),
    ]);
    expect(a.isError).toBeFalsy();
    expect(b.isError).toBeFalsy();
    const twosms = h.sandbox.requestsTo("twosms").filter((r) => r.path !== "/Token");
    const getA = twosms.find((r) => r.method === "GET" && r.path.endsWith(GDPR_USER));
    const getB = twosms.find((r) => r.method === "GET" && r.path.endsWith(GDPR_OTHER));
    const postA = twosms.find((r) => r.method === "POST" && r.path.endsWith(GDPR_USER));
    const postB = twosms.find((r) => r.method === "POST" && r.path.endsWith(GDPR_OTHER));
    // Different records: each one's read reached the upstream before the other's write.
    expect(getA && getB && postA && postB).toBeTruthy();
    expect(Math.max(getA?.at ?? 0, getB?.at ?? 0)).toBeLessThanOrEqual(Math.min(postA?.at ?? 0, postB?.at ?? 0));
    expect(Date.now() - started).toBeLessThan(3000);
    // The same record: the second call's read waits for the first call's write.
    const seen = h.sandbox.requests.length;
    h.sandbox.fault({ provider: "twosms", method: "GET", path: /admin\/users/, delayMs: 300, kind: "pass", times: 2 });
    await Promise.all([
      h.call("update_gdpr", { userId: GDPR_OTHER, timeZone: "GMT Standard Time" }),
      h.call("update_gdpr", { userId: GDPR_OTHER, displayName: "Tom B." }),
    ]);
    const same = h.sandbox.requests.slice(seen).filter((r) => r.path !== "/Token");
    expect(same.map((r) => r.method)).toEqual(["GET", "POST", "GET", "POST"]);
  });

  it("a queued call that runs out of time leaves the queue and never writes; a dry run does not wait", { tags: ["slow"] }, async () => {
    // Two servers in one process share the queue (same credentials, same upstream): the first write
    // hangs for longer than the second call's whole deadline.
    const slow = await startHarness({ env: { USERS_MCP_CONFIRM: "off", USERS_MCP_TIMEOUT_MS: "4000" }, shareSandbox: h.sandbox });
    const quick = await startHarness({
      env: { USERS_MCP_CONFIRM: "off", USERS_MCP_TIMEOUT_MS: "1500" },
      shareSandbox: h.sandbox,
      shareQueues: slow,
    });
    try {
      h.sandbox.fault({ provider: "leadping", method: "PUT", kind: "hang" });
      const first = slow.call("update_compliance", { compliance: { acceptedBaa: true } });
      await until(() => h.sandbox.requestsTo("leadping", "PUT").length === 1);
      // Had the dry run queued behind the hung write, it would have met its own deadline waiting.
      const dry = await quick.call("update_compliance", { compliance: { acceptedEmail: false }, dryRun: true });
      expect(dry.isError, quick.text(dry)).toBeFalsy();
      const second = await quick.call("update_compliance", { compliance: { acceptedEmail: false } });
      expect(second.isError).toBe(true);
      expect(quick.text(second)).toMatch(/waited for another write to the same record.*deadline of 1500 ms.*Nothing was written/s);
      expect((await first).isError).toBe(true); // the hung PUT meets its own deadline
      expect(h.sandbox.requestsTo("leadping", "PUT")).toHaveLength(1);
      // The queue is free again: the next write goes through.
      const third = await quick.call("update_compliance", { compliance: { acceptedEmail: false } });
      expect(third.isError, quick.text(third)).toBeFalsy();
      expect(h.sandbox.requestsTo("leadping", "PUT")).toHaveLength(2);
    } finally {
      await slow.close();
      await quick.close();
    }
  });
});

describe("a queued call cancelled by the client", () => {
  it("leaves the queue and never writes, while the call ahead of it completes", async () => {
    h.sandbox.fault({ provider: "leadping", method: "PUT", delayMs: 600, kind: "pass" });
    const first = h.call("update_compliance", { compliance: { acceptedBaa: true } });
    await until(() => h.sandbox.requestsTo("leadping", "PUT").length === 1);
    const turns = vi.spyOn((await h.runtime.state()).queues, "hold");
    const abort = new AbortController();
    const queued = h.client.callTool({ name: "update_compliance", arguments: { compliance: { acceptedEmail: false } } }, undefined, {
      signal: abort.signal,
    });
    // The second call is waiting for the record's turn, behind the first.
    await until(() => turns.mock.calls.length === 1);
    abort.abort();
    await expect(queued).rejects.toThrow();
    // The server saw the cancellation: the waiting call left the queue.
    await expect(turns.mock.results[0]?.value).rejects.toBeDefined();
    turns.mockRestore();
    expect((await first).isError).toBeFalsy();
    // Only the first call read and wrote: the cancelled one never reached the upstream.
    expect(h.sandbox.requestsTo("leadping").map((r) => r.method)).toEqual(["GET", "PUT"]);
    expect(compliance(h)).toMatchObject({ acceptedBaa: true, acceptedEmail: true });
  });
});

describe("lists edited without restating them", () => {
  it("licensedStates add and remove, with warnings for what was already there or absent", async () => {
    const r = await h.call("update_compliance", { compliance: { licensedStates: { add: ["ca", "TX"], remove: ["OK", "NV"] } } });
    expect(r.isError, h.text(r)).toBeFalsy();
    expect(compliance(h).licensedStates).toEqual(["TX", "CA"]);
    expect(out(r).changed).toEqual([{ field: "licensedStates", before: ["TX", "OK"], after: ["TX", "CA"] }]);
    const warnings = out(r).warnings as string[];
    expect(warnings).toContain("licensedStates: TX already present; not added again.");
    expect(warnings).toContain("licensedStates: NV not present; nothing to remove.");
  });

  it("trustedFormCertificates: add takes certificates, remove takes urls or ids", async () => {
    const before = compliance(h).trustedFormCertificates as Array<{ id: string; url: string }>;
    expect(before.length).toBeGreaterThan(0);
    const first = before[0] as { id: string; url: string };
    const url = "https://cert.trustedform.com/0123456789abcdef0123456789abcdef01234567";
    const r = await h.call("update_compliance", {
      compliance: { trustedFormCertificates: { add: [{ url, source: "web form" }], remove: [first.id] } },
    });
    expect(r.isError, h.text(r)).toBeFalsy();
    const after = compliance(h).trustedFormCertificates as Array<{ id: string; url: string; source: string }>;
    expect(after.map((c) => c.url)).toEqual([...before.slice(1).map((c) => c.url), url]);
    expect(after.at(-1)).toMatchObject({ id: "0123456789abcdef0123456789abcdef01234567", source: "web form" });
    const byUrl = await h.call("update_compliance", { compliance: { trustedFormCertificates: { remove: [url] } } });
    expect(byUrl.isError).toBeFalsy();
    expect((compliance(h).trustedFormCertificates as unknown[]).length).toBe(before.length - 1);
  });

  it("update_user: scopes and locationIds edits, and a plain array still replaces", async () => {
    const r = await h.call("update_user", {
      userId: LC_OTHER,
      scopes: { remove: ["contacts.write"] },
      locationIds: { remove: ["M2QrtfVt8ZnC7cv2InDL"] },
    });
    expect(r.isError, h.text(r)).toBeFalsy();
    const put = JSON.parse(h.sandbox.requestsTo("leadconnector", "PUT")[0]?.body ?? "{}");
    expect(put).toEqual({ scopes: ["conversations.readonly"], locationIds: ["C2QujeCh8ZnC7al2InWR"] });
    const replace = await h.call("update_user", { userId: LC_OTHER, locationIds: ["M2QrtfVt8ZnC7cv2InDL"] });
    expect(replace.isError).toBeFalsy();
    expect(JSON.parse(h.sandbox.requestsTo("leadconnector", "PUT")[1]?.body ?? "{}")).toEqual({ locationIds: ["M2QrtfVt8ZnC7cv2InDL"] });
  });

  it("checks added entries as strictly as a full list, before anything is sent", async () => {
    for (const [args, pattern] of [
      [{ compliance: { licensedStates: { add: ["CA", "ZZ"] } } }, /compliance\.licensedStates\.add\[1\]: not a US state/],
      [{ compliance: { licensedStates: {} } }, /give add, remove, or both/],
      [{ compliance: { licensedStates: "CA" } }, /compliance\.licensedStates: expected array or object \(a full list, or \{"add"/],
      [
        { compliance: { trustedFormCertificates: { add: [{ url: "https://evil.example.com/x" }] } } },
        /trustedFormCertificates\.add\[0\]\.url: must be a TrustedForm certificate URL/,
      ],
    ] as const) {
      const r = await h.call("update_compliance", args);
      expect(r.isError).toBe(true);
      expect(h.text(r)).toMatch(pattern);
    }
    expect(h.sandbox.requestsTo("leadping")).toHaveLength(0);
  });
});

describe("a preview binds the write to what was seen", () => {
  it("a dry run returns a token; the same change with it is written", async () => {
    const dry = await h.call("update_gdpr", { userId: GDPR_USER, displayName: "Priya S.", dryRun: true });
    const token = out(dry).previewToken as string;
    expect(token).toMatch(/^pv2\./);
    expect(out(dry)).toMatchObject({ applied: false, dryRun: true, confirmation: "not_asked" });
    const write = await h.call("update_gdpr", { userId: GDPR_USER, displayName: "Priya S.", previewToken: token });
    expect(write.isError, h.text(write)).toBeFalsy();
    expect(out(write)).toMatchObject({ applied: true, changed: [{ field: "displayName", before: "Priya Shah", after: "Priya S." }] });
  });

  it("refuses the write with a Conflict naming each moved field when the record changed since the preview", async () => {
    const dry = await h.call("update_compliance", { compliance: { acceptedSms: false, licensedStates: { add: ["CA"] } }, dryRun: true });
    const token = out(dry).previewToken as string;
    // Someone else changes the record in between.
    await h.call("update_compliance", { compliance: { licensedStates: { add: ["NY"] } } });
    const puts = h.sandbox.requestsTo("leadping", "PUT").length;
    const write = await h.call("update_compliance", {
      compliance: { acceptedSms: false, licensedStates: { add: ["CA"] } },
      previewToken: token,
    });
    expect(write.isError).toBe(true);
    const text = h.text(write);
    expect(text).toMatch(/^Conflict: the record changed since the preview, so nothing was written\./);
    expect(text).toContain('- licensedStates: ["TX","OK"] at preview time, ["TX","OK","NY"] now');
    expect(text).not.toContain("acceptedSms:");
    expect(text).toMatch(/Preview again with dryRun: true/);
    expect(h.sandbox.requestsTo("leadping", "PUT")).toHaveLength(puts);
  });

  it("refuses forged, malformed, foreign and mismatched tokens, saying why, and sends nothing", async () => {
    const dry = await h.call("update_user", { userId: LC_USER, firstName: "Jon", dryRun: true });
    const token = out(dry).previewToken as string;
    const [p, body, mac] = token.split(".") as [string, string, string];
    const forged = `${p}.${body}.${mac.slice(0, -2)}${mac.endsWith("AA") ? "BB" : "AA"}`;
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ["update_user", { userId: LC_USER, firstName: "Jon", previewToken: "abc" }, /previewToken: malformed/],
      ["update_user", { userId: LC_USER, firstName: "Jon", previewToken: forged }, /previewToken: not issued by this server/],
      ["update_user", { userId: LC_USER, firstName: "Jonathan", previewToken: token }, /previewToken: issued for a different change/],
      ["update_user", { userId: LC_OTHER, firstName: "Jon", previewToken: token }, /previewToken: issued for another record/],
      [
        "update_gdpr",
        { userId: GDPR_USER, displayName: "Jon", previewToken: token },
        /previewToken: issued by update_user, not update_gdpr/,
      ],
    ];
    for (const [tool, args, pattern] of cases) {
      const r = await h.call(tool, args);
      expect(r.isError, tool).toBe(true);
      expect(h.text(r)).toMatch(pattern);
      expect(h.text(r)).toMatch(/Nothing was sent upstream/);
    }
    expect(h.sandbox.requestsTo("leadconnector", "PUT")).toHaveLength(0);
    expect(h.sandbox.requestsTo("twosms", "POST").filter((r) => r.path !== "/Token")).toHaveLength(0);
  });

  it("tokens expire after 15 minutes, and only processes sharing USERS_MCP_PREVIEW_KEY accept each other's", async () => {
    const tokens = new PreviewTokens();
    const t = tokens.issue("update_user", "k", "r", { firstName: "John" }, 1_000);
    expect(tokens.check(t, "update_user", "k", "r", 1_000 + PREVIEW_TTL_MS - 1)).toEqual({ firstName: "John" });
    expect(() => tokens.check(t, "update_user", "k", "r", 1_000 + PREVIEW_TTL_MS + 120_000)).toThrow(/expired 2 minute\(s\) ago/);
    expect(() => new PreviewTokens().check(t, "update_user", "k", "r", 1_000)).toThrow(/not issued by this server/);

    const key = "0123456789abcdef0123456789abcdef-shared";
    const a = await startHarness({ env: { USERS_MCP_CONFIRM: "off", USERS_MCP_PREVIEW_KEY: key }, shareSandbox: h.sandbox });
    const b = await startHarness({ env: { USERS_MCP_CONFIRM: "off", USERS_MCP_PREVIEW_KEY: key }, shareSandbox: h.sandbox });
    try {
      const dry = await a.call("update_user", { userId: LC_USER, lastName: "Doe", dryRun: true });
      const write = await b.call("update_user", { userId: LC_USER, lastName: "Doe", previewToken: out(dry).previewToken });
      expect(write.isError, b.text(write)).toBeFalsy();
      const other = await h.call("update_user", { userId: LC_USER, lastName: "Doe", previewToken: out(dry).previewToken });
      expect(h.text(other)).toMatch(/not issued by this server/);
      // The key is a secret: never shown.
      expect(JSON.stringify([dry, write, other])).not.toContain(key);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("the audit log records every write (in process)", () => {
  it("an applied write has an intent and an outcome with the request id and client; reads and dry runs record nothing", async () => {
    const file = auditFile();
    const a = await startHarness({ env: { USERS_MCP_CONFIRM: "off", USERS_MCP_AUDIT_LOG: file }, shareSandbox: h.sandbox });
    try {
      await a.call("get_current_user");
      await a.call("update_user", { userId: LC_USER, firstName: "Jon", dryRun: true });
      expect(() => readFileSync(file)).toThrow(/ENOENT/);
      const r = await a.call("update_user", { userId: LC_USER, firstName: "Jon" });
      const lines = readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(lines).toHaveLength(2);
      const [intent, outcome] = lines;
      expect(intent).toMatchObject({
        phase: "intent",
        tool: "update_user",
        provider: "leadconnector",
        target: LC_USER,
        changes: [{ field: "firstName", before: "John", after: "Jon" }],
        confirmation: "not_asked",
        client: { name: "users-mcp-tests", version: "1.0.0" },
      });
      expect(intent.outcome).toBeUndefined();
      expect(outcome).toMatchObject({ id: intent.id, phase: "outcome", outcome: "applied", requestId: expect.stringMatching(/^sbx-/) });
      expect(out(r).auditId).toBe(intent.id);
    } finally {
      await a.close();
    }
  });
});

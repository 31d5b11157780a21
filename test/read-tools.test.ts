import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stripInvisible } from "../src/kernel/redact.js";
import { COMPANY_ID } from "../src/sandbox/leadconnector.js";
import { SANDBOX_TWOSMS_USER_ID } from "../src/sandbox/twosms.js";
import { type Harness, runCli, SANDBOX_CREDENTIALS, sandboxEnv, startHarness, startServer } from "./harness.js";

const JOHN = "0IHuJvc2ofPAAA8GzTRi";
const ALI = "n1l00farRah1m1000003";
const SHRIYA = "4f1d7a52-93e0-4c1b-8b7e-2a6c0d9e5f31";
const PERSIAN = "علی\u200cاکبر";
const SINHALA_EMOJI = "\u0DC1\u0DCA\u200D\u0DBB\u0DD2\u0DBA\u0DCF \u0DB4\u0DD9\u0DBB\u0DDA\u0DBB\u0DCF \u{1F469}\u200D\u{1F4BB}";
const LOC_A = "C2QujeCh8ZnC7al2InWR";
const LOC_B = "M2QrtfVt8ZnC7cv2InDL";

const out = (r: CallToolResult) => r.structuredContent as Record<string, unknown>;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { USERS_MCP_CONFIRM: "off" } });
});
beforeEach(() => h.sandbox.reset());
afterAll(() => h.close());

describe("get_user", () => {
  it("sends one GET with the token, Version and Accept headers, and returns the user", async () => {
    const r = await h.call("get_user", { userId: JOHN });
    expect(r.isError, h.text(r)).toBeFalsy();
    const [req, ...rest] = h.sandbox.requestsTo("leadconnector");
    expect(rest).toEqual([]);
    expect(req).toMatchObject({ method: "GET", path: `/users/${JOHN}`, query: "" });
    expect(req?.headers).toMatchObject({
      authorization: `Bearer ${SANDBOX_CREDENTIALS.leadconnectorToken}`,
      version: "2021-07-28",
      accept: "application/json",
    });
    expect(out(r)).toEqual({
      id: JOHN,
      name: "John Deo",
      firstName: "John",
      lastName: "Deo",
      email: "john@deo.com",
      phone: "+18088688888",
      roles: { type: "account", role: "admin", locationIds: [LOC_A] },
      permissions: { campaignsEnabled: true, contactsEnabled: true, workflowsEnabled: true, settingsEnabled: true, invoiceEnabled: false },
      scopes: ["contacts.write", "campaigns.readonly"],
      lcPhone: { [LOC_A]: "+18832320000" },
      platformLanguage: "en_US",
      deleted: false,
    });
    expect(JSON.parse(h.text(r))).toEqual(out(r));
  });

  it("a missing user is not found with what to check; a 403 names the scope and the sub-account/agency mismatch", async () => {
    const missing = await h.call("get_user", { userId: "nobodyHere1234567890" });
    expect(missing.isError).toBe(true);
    expect(h.text(missing)).toMatch(/LeadConnector found nothing there \(HTTP 404\)[\s\S]*Check userId/);
    h.sandbox.fault({
      provider: "leadconnector",
      method: "GET",
      status: 403,
      body: { statusCode: 403, message: "The token does not have access to this location." },
    });
    const denied = await h.call("get_user", { userId: JOHN });
    expect(h.text(denied)).toMatch(/denied access \(HTTP 403\)[\s\S]*users\.readonly[\s\S]*sub-account or agency/);
  });

  it("refuses path tricks in the id before any request", async () => {
    for (const userId of ["../users/x", "a/b", "a?b", "a#b", "%2e%2e", "..", "a b"]) {
      const r = await h.call("get_user", { userId });
      expect(r.isError, userId).toBe(true);
      expect(h.text(r)).toMatch(/userId: must be a plain id/);
    }
    expect(h.sandbox.requestsTo("leadconnector")).toEqual([]);
  });
});

describe("search_users", () => {
  it("sends every argument as a query string parameter, as the upstream takes them", async () => {
    const r = await h.call("search_users", {
      query: "lee",
      companyId: COMPANY_ID,
      locationId: LOC_B,
      role: "user",
      type: "account",
      limit: 10,
      skip: 0,
    });
    expect(r.isError, h.text(r)).toBeFalsy();
    const req = h.sandbox.requestsTo("leadconnector")[0];
    expect(req?.path).toBe("/users/search");
    expect(Object.fromEntries(new URLSearchParams(req?.query))).toEqual({
      companyId: COMPANY_ID,
      skip: "0",
      limit: "10",
      query: "lee",
      locationId: LOC_B,
      role: "user",
      type: "account",
    });
    expect(req?.headers).toMatchObject({ version: "2021-07-28", authorization: `Bearer ${SANDBOX_CREDENTIALS.leadconnectorToken}` });
    expect(out(r)).toEqual({
      users: [
        {
          id: "sAmL33sUbAcc0unt0001",
          name: "Sam Lee",
          email: "sam.lee@example.com",
          phone: "+15125550142",
          role: "user",
          type: "account",
          locationIds: [LOC_B],
          deleted: false,
        },
      ],
      count: 1,
    });
  });

  it("pages with limit and skip, reports the total, and gives nextSkip until the last page", async () => {
    const first = await h.call("search_users", { companyId: COMPANY_ID, limit: 3 });
    expect(out(first)).toMatchObject({ count: 7, nextSkip: 3 });
    expect((out(first).users as unknown[]).length).toBe(3);
    const third = await h.call("search_users", { companyId: COMPANY_ID, limit: 3, skip: 6 });
    expect(out(third).count).toBe(7);
    expect((out(third).users as unknown[]).length).toBe(1);
    expect(out(third).nextSkip).toBeUndefined();
    const names = [
      ...(out(first).users as Array<{ name: string }>),
      ...(out(await h.call("search_users", { companyId: COMPANY_ID, limit: 3, skip: 3 })).users as Array<{ name: string }>),
      ...(out(third).users as Array<{ name: string }>),
    ].map((u) => u.name);
    expect(new Set(names).size).toBe(7);
    expect(Object.fromEntries(new URLSearchParams(h.sandbox.requestsTo("leadconnector")[0]?.query))).toEqual({
      companyId: COMPANY_ID,
      skip: "0",
      limit: "3",
    });
  });

  it("without companyId or LEADCONNECTOR_COMPANY_ID, names both and sends nothing", async () => {
    const r = await h.call("search_users", { query: "sam" });
    expect(r.isError).toBe(true);
    expect(h.text(r)).toMatch(/companyId: .*pass companyId, or set LEADCONNECTOR_COMPANY_ID/);
    expect(h.sandbox.requestsTo("leadconnector")).toEqual([]);
  });

  it("takes companyId and locationId from LEADCONNECTOR_COMPANY_ID and LEADCONNECTOR_LOCATION_ID", async () => {
    const d = await startHarness({
      env: { LEADCONNECTOR_COMPANY_ID: COMPANY_ID, LEADCONNECTOR_LOCATION_ID: LOC_A },
      shareSandbox: h.sandbox,
    });
    try {
      const r = await d.call("search_users", {});
      expect(r.isError, d.text(r)).toBeFalsy();
      expect(Object.fromEntries(new URLSearchParams(h.sandbox.requestsTo("leadconnector")[0]?.query))).toEqual({
        companyId: COMPANY_ID,
        locationId: LOC_A,
        skip: "0",
        limit: "25",
      });
      expect((out(r).users as Array<{ locationIds: string[] }>).every((u) => u.locationIds.includes(LOC_A))).toBe(true);
    } finally {
      await d.close();
    }
  });

  it("another company is the agency/sub-account mismatch (403), explained; a 422 shows the upstream's messages", async () => {
    const r = await h.call("search_users", { companyId: "someOtherCompany" });
    expect(r.isError).toBe(true);
    expect(h.text(r)).toMatch(/denied access \(HTTP 403\)[\s\S]*another agency or sub-account than companyId/);
    h.sandbox.fault({
      provider: "leadconnector",
      status: 422,
      body: { statusCode: 422, message: ["limit must not be greater than 100"], error: "Unprocessable Entity" },
    });
    const bad = await h.call("search_users", { companyId: COMPANY_ID });
    expect(h.text(bad)).toMatch(/rejected the request \(HTTP 422\)[\s\S]*"limit must not be greater than 100"/);
  });

  it("refuses out-of-range paging before sending anything", async () => {
    for (const args of [{ limit: 0 }, { limit: 101 }, { skip: -1 }, { limit: 2.5 }, { role: "owner" }]) {
      const r = await h.call("search_users", { companyId: COMPANY_ID, ...args });
      expect(r.isError).toBe(true);
      expect(h.text(r)).toMatch(/^Invalid arguments for search_users/);
    }
    expect(h.sandbox.requestsTo("leadconnector")).toEqual([]);
  });
});

describe("get_gdpr_user", () => {
  it("gets a token, reads the user, and returns it in camelCase with its GDPR state, never the password or PIN", async () => {
    const r = await h.call("get_gdpr_user", { userId: SANDBOX_TWOSMS_USER_ID });
    expect(r.isError, h.text(r)).toBeFalsy();
    const [token, get, ...rest] = h.sandbox.requestsTo("twosms");
    expect(rest).toEqual([]);
    expect(token).toMatchObject({ method: "POST", path: "/Token" });
    expect(get).toMatchObject({ method: "GET", path: `/api/v1/admin/users/${SANDBOX_TWOSMS_USER_ID}` });
    expect(get?.headers.authorization).toMatch(/^Bearer /);
    expect(out(r)).toMatchObject({
      user: { id: SANDBOX_TWOSMS_USER_ID, displayName: "Priya Shah", emailAddress: "priya.shah@example.co.uk", enabled: true },
      gdpr: { agreementDate: "2025-05-15T23:56:56.4782099+00:00", declineDate: null },
    });
    const text = h.text(r);
    expect(text).not.toMatch(/password|"pin"/i);
    const stored = h.sandbox.state.twosms.user(SANDBOX_TWOSMS_USER_ID);
    expect(text).not.toContain(String(stored?.Password));
    const shriya = await h.call("get_gdpr_user", { userId: SHRIYA });
    expect(h.text(shriya)).not.toContain("4321"); // her stored PIN
    expect(h.text(shriya)).not.toContain("third-stored-hash");
  });

  it("a missing user is not found; bad ids are refused before any request", async () => {
    const missing = await h.call("get_gdpr_user", { userId: "00000000-0000-4000-8000-000000000000" });
    expect(missing.isError).toBe(true);
    expect(h.text(missing)).toMatch(/UserNotFound[\s\S]*Check userId \(a GUID\)/);
    const before = h.sandbox.requests.length;
    for (const userId of ["not-a-guid", `${SANDBOX_TWOSMS_USER_ID}/../x`, ""]) {
      const r = await h.call("get_gdpr_user", { userId });
      expect(h.text(r)).toMatch(/userId: must be a GUID/);
    }
    expect(h.sandbox.requests.length).toBe(before);
  });
});

describe("names as they are", () => {
  it("keeps joiners inside words and emoji, and strips invisible characters elsewhere", () => {
    expect(stripInvisible(PERSIAN)).toBe(PERSIAN);
    expect(stripInvisible(SINHALA_EMOJI)).toBe(SINHALA_EMOJI);
    expect(stripInvisible("क्\u200Dष")).toBe("क्\u200Dष"); // Devanagari: a joiner after the virama
    expect(stripInvisible("\u200Dstart end\u200D a\u200C b")).toBe("start end a b");
    expect(stripInvisible("ig\u200Bnore\u202Eevil\u{E0041}")).toBe("ignoreevil");
  });

  it("a Persian name read from LeadConnector and written back is unchanged", async () => {
    const read = await h.call("get_user", { userId: ALI });
    expect((out(read) as { firstName: string }).firstName).toBe(PERSIAN);
    const found = await h.call("search_users", { companyId: COMPANY_ID, query: "علی" });
    expect((out(found).users as Array<{ name: string }>)[0]?.name).toBe(`${PERSIAN} کریمی`);
    const back = await h.call("update_user", { userId: ALI, firstName: (out(read) as { firstName: string }).firstName });
    expect(out(back)).toMatchObject({ applied: false, changed: [] });
    const renamed = await h.call("update_user", { userId: JOHN, firstName: PERSIAN });
    expect(out(renamed)).toMatchObject({ applied: true, changed: [{ field: "firstName", before: "John", after: PERSIAN }] });
    expect(h.sandbox.state.leadconnector.user(JOHN)?.firstName).toBe(PERSIAN);
  });

  it("a Sinhala name with an emoji read from 2SMS and written back is unchanged", async () => {
    const read = await h.call("get_gdpr_user", { userId: SHRIYA });
    const name = (out(read).user as { displayName: string }).displayName;
    expect(name).toBe(SINHALA_EMOJI);
    const back = await h.call("update_gdpr", { userId: SHRIYA, displayName: name });
    expect(out(back)).toMatchObject({ applied: false, changed: [] });
    const moved = await h.call("update_gdpr", { userId: SANDBOX_TWOSMS_USER_ID, displayName: SINHALA_EMOJI });
    expect(out(moved)).toMatchObject({ applied: true });
    expect(h.sandbox.state.twosms.user(SANDBOX_TWOSMS_USER_ID)?.DisplayName).toBe(SINHALA_EMOJI);
    expect((out(await h.call("get_gdpr_user", { userId: SANDBOX_TWOSMS_USER_ID })).user as { displayName: string }).displayName).toBe(
      SINHALA_EMOJI,
    );
  });
});

describe("over stdio, and in read-only mode", () => {
  it("serves all read tools with --read-only, with no secret in any result", async () => {
    const s = await startServer(sandboxEnv(h.sandbox, { LEADCONNECTOR_COMPANY_ID: COMPANY_ID }), ["--read-only"]);
    try {
      const calls = [
        ["get_current_user", {}],
        ["search_users", { query: "sam" }],
        ["get_user", { userId: JOHN }],
        ["get_gdpr_user", { userId: SANDBOX_TWOSMS_USER_ID }],
      ] as const;
      const texts: string[] = [];
      for (const [name, args] of calls) {
        const r = (await s.client.callTool({ name, arguments: args })) as CallToolResult;
        expect(r.isError, `${name}: ${JSON.stringify(r.content)}`).toBeFalsy();
        texts.push(JSON.stringify(r));
      }
      const all = texts.join("\n");
      for (const secret of Object.values(SANDBOX_CREDENTIALS)) expect(all).not.toContain(secret);
      // A hidden tool is unknown to the caller: JSON-RPC -32602, with the reason it is hidden.
      await expect(s.client.callTool({ name: "update_user", arguments: { userId: JOHN, firstName: "X" } })).rejects.toMatchObject({
        code: -32602,
        message: expect.stringMatching(/disabled on this server by read-only mode/),
      });
    } finally {
      await s.close();
    }
  });
});

describe("doctor", () => {
  it("probes LeadConnector with a one-row search when a company id is configured, else with a user lookup", async () => {
    const withCompany = await runCli(["doctor"], sandboxEnv(h.sandbox, { LEADCONNECTOR_COMPANY_ID: COMPANY_ID }));
    expect(withCompany.stdout).toMatch(/LeadConnector\s+yes\s+yes\s+yes/);
    const search = h.sandbox.requestsTo("leadconnector");
    expect(search.map((r) => [r.path, Object.fromEntries(new URLSearchParams(r.query))])).toEqual([
      ["/users/search", { companyId: COMPANY_ID, skip: "0", limit: "1" }],
    ]);
    h.sandbox.reset();
    const without = await runCli(["doctor"], sandboxEnv(h.sandbox));
    expect(without.stdout).toMatch(/LeadConnector\s+yes\s+yes\s+yes/);
    expect(h.sandbox.requestsTo("leadconnector").map((r) => r.path)).toEqual(["/users/users-mcp-doctor-probe"]);
  });
});

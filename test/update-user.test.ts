import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Harness, SANDBOX_CREDENTIALS, startHarness } from "./harness.js";

const USER = "0IHuJvc2ofPAAA8GzTRi";
const PASSWORD = "Canary-Pa55word-7f3e9b";

let h: Harness;
let allowed: Harness;
beforeAll(async () => {
  h = await startHarness();
  allowed = await startHarness({ env: { USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "true" }, shareSandbox: h.sandbox });
});
afterEach(() => h.sandbox.reset());
afterAll(async () => {
  await allowed.close();
  await h.close();
});

const lc = () => h.sandbox.requestsTo("leadconnector");

describe("update_user", () => {
  it("reads the user, then sends only the given fields with the required headers", async () => {
    const result = await h.call("update_user", { userId: USER, firstName: "Jon", platformLanguage: "fr_CA" });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      applied: true,
      changed: [
        { field: "firstName", before: "John", after: "Jon" },
        { field: "platformLanguage", before: "en_US", after: "fr_CA" },
      ],
      user: { id: USER, firstName: "Jon", platformLanguage: "fr_CA" },
    });
    const [get, put, ...rest] = lc();
    expect(rest).toHaveLength(0);
    expect(get).toMatchObject({ method: "GET", path: `/users/${USER}` });
    expect(put).toMatchObject({ method: "PUT", path: `/users/${USER}` });
    for (const r of [get, put]) {
      expect(r?.headers.authorization).toBe(`Bearer ${SANDBOX_CREDENTIALS.leadconnectorToken}`);
      expect(r?.headers.version).toBe("2021-07-28");
      expect(r?.headers.accept).toBe("application/json");
    }
    expect(JSON.parse(put?.body ?? "")).toEqual({ firstName: "Jon", platformLanguage: "fr_CA" });
  });

  it("dryRun reads and reports, and sends no PUT", async () => {
    const result = await h.call("update_user", { userId: USER, role: "user", dryRun: true });
    expect(result.structuredContent).toMatchObject({
      applied: false,
      dryRun: true,
      changed: [{ field: "role", before: "admin", after: "user" }],
    });
    expect(h.sandbox.requestsTo("leadconnector", "PUT")).toHaveLength(0);
  });

  it("skips the PUT when nothing would change", async () => {
    const result = await h.call("update_user", { userId: USER, lastName: "Deo", permissions: { contactsEnabled: true } });
    expect(result.structuredContent).toMatchObject({ applied: false, changed: [] });
    expect(h.sandbox.requestsTo("leadconnector", "PUT")).toHaveLength(0);
  });

  it("compares only the permission flags given", async () => {
    const result = await h.call("update_user", { userId: USER, permissions: { invoiceEnabled: true, contactsEnabled: true } });
    expect((result.structuredContent as { changed: unknown }).changed).toEqual([
      {
        field: "permissions",
        before: { invoiceEnabled: false, contactsEnabled: true },
        after: { invoiceEnabled: true, contactsEnabled: true },
      },
    ]);
  });

  it("spells out twilioPhone's replacement and that it cannot be read back", async () => {
    const result = await h.call("update_user", { userId: USER, twilioPhone: { M2QrtfVt8ZnC7cv2InDL: "+18832327657" } });
    const out = result.structuredContent as { changed: Array<{ field: string; before: unknown }>; warnings: string[] };
    expect(out.changed[0]).toMatchObject({ field: "twilioPhone", before: expect.stringMatching(/not readable/) });
    expect(out.warnings.join(" ")).toMatch(/replaces the whole stored map: any location not among the 1 listed loses its number/);
    expect(h.sandbox.state.leadconnector.user(USER)?.twilioPhone).toEqual({ M2QrtfVt8ZnC7cv2InDL: "+18832327657" });

    const cleared = await h.call("update_user", { userId: USER, twilioPhone: {}, dryRun: true });
    expect((cleared.structuredContent as { warnings: string[] }).warnings).toContain(
      "twilioPhone is {}: every per-location inbound Twilio number is cleared.",
    );
  });

  it("warns on replacing scopes, on [] and on unknown scope names, and still sends them", async () => {
    const result = await h.call("update_user", {
      userId: USER,
      scopes: ["contacts.write", "contacts.tele-port"],
      scopesAssignedToOnly: [],
    });
    expect(result.isError).toBeFalsy();
    const warnings = (result.structuredContent as { warnings: string[] }).warnings;
    expect(warnings).toContain("scopes replaces the stored list: only the 2 listed stay enabled.");
    expect(warnings).toContain("scopesAssignedToOnly is []: every one of them is disabled.");
    expect(warnings.join(" ")).toMatch(/contacts\.tele-port not among the scope names/);
    expect(JSON.parse(h.sandbox.requestsTo("leadconnector", "PUT")[0]?.body ?? "")).toEqual({
      scopes: ["contacts.write", "contacts.tele-port"],
      scopesAssignedToOnly: [],
    });
  });

  it.each([
    [{ userId: USER, email: "new@example.com" }, /email: LeadConnector's API no longer supports changing a user's email/],
    [{ userId: USER }, /give at least one field to change besides userId/],
    [{ userId: USER, role: "owner" }, /role: Invalid option: expected one of "admin"\|"user"/],
    [{ userId: USER, platformLanguage: "en_GB" }, /platformLanguage/],
    [{ userId: USER, profilePhoto: "http://img.example.com/a.png" }, /profilePhoto: must be an https URL/],
    [{ userId: USER, twilioPhone: { loc1: "555-1234" } }, /twilioPhone\.loc1/],
    [{ userId: "../locations/abc", firstName: "X" }, /userId: must be a plain id/],
    [{ userId: "abc%2F..", firstName: "X" }, /userId: must be a plain id/],
    [{ userId: "abc\r\nX-Injected: 1", firstName: "X" }, /userId: must not contain control characters/],
    [{ userId: "", firstName: "X" }, /userId/],
    [{ userId: USER, password: PASSWORD }, /password: credential changes are disabled[\s\S]*USERS_MCP_ALLOW_CREDENTIAL_CHANGES=true/],
  ])("refuses %j without sending anything", async (args, message) => {
    const result = await h.call("update_user", args);
    expect(result.isError).toBe(true);
    expect(h.text(result)).toMatch(message);
    expect(lc()).toHaveLength(0);
  });

  it("sends a password when allowed, and never shows it anywhere", async () => {
    const result = await allowed.call("update_user", { userId: USER, password: PASSWORD });
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(h.sandbox.requestsTo("leadconnector", "PUT")[0]?.body ?? "")).toEqual({ password: PASSWORD });
    expect(h.sandbox.state.leadconnector.user(USER)?.password).toBe(PASSWORD);
    expect((result.structuredContent as { message: string }).message).toMatch(/The password was changed\./);
    expect(JSON.stringify(result)).not.toContain(PASSWORD);

    // An upstream that echoes the password in an error is redacted too.
    h.sandbox.fault({
      provider: "leadconnector",
      method: "PUT",
      status: 422,
      body: { statusCode: 422, message: [`password ${PASSWORD} is too weak`], error: "Unprocessable Entity" },
    });
    const failed = await allowed.call("update_user", { userId: USER, password: PASSWORD });
    expect(failed.isError).toBe(true);
    expect(allowed.text(failed)).toMatch(/password \[redacted\] is too weak/);
    expect(JSON.stringify(failed)).not.toContain(PASSWORD);
    expect(allowed.logs.join("\n")).not.toContain(PASSWORD);
    expect(h.logs.join("\n")).not.toContain(PASSWORD);
  });
});

describe("update_user errors", () => {
  it("shows every message of a 422", async () => {
    h.sandbox.fault({
      provider: "leadconnector",
      method: "PUT",
      status: 422,
      body: {
        statusCode: 422,
        message: ["phone must be a valid phone number", "lastName must be shorter than or equal to 100 characters"],
        error: "Unprocessable Entity",
      },
    });
    const result = await h.call("update_user", { userId: USER, phone: "+1 555 0100 999" });
    const text = h.text(result);
    expect(text).toMatch(/LeadConnector rejected the request \(HTTP 422\)/);
    expect(text).toMatch(/"phone must be a valid phone number"; "lastName must be shorter/);
  });

  it("names LEADCONNECTOR_TOKEN on a 401", async () => {
    const bad = await startHarness({ env: { LEADCONNECTOR_TOKEN: "pit-expired-0000" }, shareSandbox: h.sandbox });
    try {
      const text = bad.text(await bad.call("update_user", { userId: USER, firstName: "A" }));
      expect(text).toMatch(/HTTP 401[\s\S]*Invalid token: access token is invalid[\s\S]*LEADCONNECTOR_TOKEN is invalid or has expired/);
      expect(text).not.toContain("pit-expired-0000");
    } finally {
      await bad.close();
    }
  });

  it("says which scope is missing on a 403", async () => {
    const ro = await startHarness({
      env: { LEADCONNECTOR_TOKEN: SANDBOX_CREDENTIALS.leadconnectorReadOnlyToken },
      shareSandbox: h.sandbox,
    });
    try {
      const text = ro.text(await ro.call("update_user", { userId: USER, firstName: "A" }));
      expect(text).toMatch(/HTTP 403[\s\S]*lacks the users\.write scope/);
    } finally {
      await ro.close();
    }
  });

  it("says there is no such user on a 404", async () => {
    const text = h.text(await h.call("update_user", { userId: "doesNotExist123", firstName: "A" }));
    expect(text).toMatch(/HTTP 404[\s\S]*no user with that id/);
    expect(h.sandbox.requestsTo("leadconnector", "PUT")).toHaveLength(0);
  });

  it("uses Retry-After and the rate-limit headers on a 429", async () => {
    h.sandbox.fault({
      provider: "leadconnector",
      status: 429,
      headers: {
        "retry-after": "30",
        "x-ratelimit-max": "100",
        "x-ratelimit-interval-milliseconds": "10000",
        "x-ratelimit-remaining": "0",
      },
      body: { statusCode: 429, message: "Too many requests" },
    });
    const text = h.text(await h.call("update_user", { userId: USER, firstName: "A" }));
    expect(text).toMatch(/Retry after 30 seconds\. The limit is 100 requests per 10 seconds\./);
  });

  it("says when the daily quota is spent", async () => {
    h.sandbox.fault({
      provider: "leadconnector",
      status: 429,
      headers: { "retry-after": "3600", "x-ratelimit-limit-daily": "200000", "x-ratelimit-daily-remaining": "0" },
      body: { statusCode: 429, message: "Daily limit reached" },
    });
    expect(h.text(await h.call("update_user", { userId: USER, firstName: "A" }))).toMatch(/daily quota of 200000 is used up/);
  });

  it("the sandbox answers 400 without the Version header, as LeadConnector does", async () => {
    const res = await fetch(`${h.sandbox.baseUrls.leadconnector}/users/${USER}`, {
      headers: { authorization: `Bearer ${SANDBOX_CREDENTIALS.leadconnectorToken}` },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ statusCode: 400, message: "version header was not found" });
  });
});

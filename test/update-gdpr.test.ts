import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createCallContext } from "../src/client/call-context.js";
import { TwoSmsClient } from "../src/client/twosms.js";
import { SANDBOX_TWOSMS_USER_ID } from "../src/sandbox/twosms.js";
import { type Harness, SANDBOX_CREDENTIALS, startHarness } from "./harness.js";

const USER = SANDBOX_TWOSMS_USER_ID;
const PIN = "90817263";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterEach(() => h.sandbox.reset());
afterAll(() => h.close());

const posts = () => h.sandbox.requestsTo("twosms").filter((r) => r.path.startsWith("/api/v1/UserAdminAPI"));
const sentBody = () => JSON.parse(posts()[0]?.body ?? "{}") as Record<string, unknown>;

describe("update_gdpr", () => {
  it("gets a token, reads the user, and posts the whole user with only the given field changed", async () => {
    const result = await h.call("update_gdpr", { userId: USER, displayName: "Priya S." });
    expect(result.isError).toBeFalsy();
    const [token, get, post, ...rest] = h.sandbox.requestsTo("twosms");
    expect(rest).toHaveLength(0);
    expect(token).toMatchObject({ method: "POST", path: "/Token" });
    expect(token?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(new URLSearchParams(token?.body))).toEqual({
      grant_type: "client_credentials",
      client_id: SANDBOX_CREDENTIALS.twosmsClientId,
      client_secret: SANDBOX_CREDENTIALS.twosmsClientSecret,
    });
    expect(get).toMatchObject({ method: "GET", path: `/api/v1/admin/users/${USER}` });
    expect(post).toMatchObject({ method: "POST", path: `/api/v1/UserAdminAPI/UserUpdateGDPR/${USER}` });
    expect(post?.headers.authorization).toMatch(/^Bearer [A-Za-z0-9_-]{20,}$/);
    expect(post?.headers["content-type"]).toBe("application/json");

    expect(sentBody()).toEqual({
      ID: USER,
      AccountID: "2bae3b5e-7785-454a-a3fb-b1e3dfef1a2c",
      AdminUser: true,
      Enabled: true,
      DisplayName: "Priya S.",
      EmailAddress: "priya.shah@example.co.uk",
      Username: "priya.shah",
      MobilePhone: "+44 7700 900123",
      TimeZone: "GMT Standard Time",
      LanguageID: "12e59a6b-77a9-4af4-88c1-fb271171c0e2",
      Preferences: 0,
    });
    const out = result.structuredContent as Record<string, unknown>;
    expect(out).toMatchObject({
      applied: true,
      changed: [{ field: "displayName", before: "Priya Shah", after: "Priya S." }],
      user: { displayName: "Priya S.", emailAddress: "priya.shah@example.co.uk" },
      gdpr: { agreementDate: "2025-05-15T23:56:56.4782099+00:00", dpaVersion: "3.1", privacyPolicyVersion: "2025-02", declineDate: null },
      serverResult: "User updated",
    });
    // The sandbox returns Password and Pin; neither reaches the result.
    expect(JSON.stringify(result)).not.toMatch(/stored-password-hash|4821/);
    // Untouched fields survived on the server, including the PIN it held.
    expect(h.sandbox.state.twosms.user(USER)).toMatchObject({ Username: "priya.shah", Pin: "4821", Password: "stored-password-hash" });
  });

  it("maps camelCase arguments to the PascalCase wire fields", async () => {
    await h.call("update_gdpr", {
      userId: USER,
      emailAddress: "p@example.org",
      enabled: false,
      mobilePhone: "(0207) 946-0000",
      timeZone: "Eastern Standard Time",
      username: "pshah",
      adminUser: false,
      preferences: 3,
      languageId: "4ed469ea-9f6e-4e20-8396-f6c02cf7d0f0",
    });
    expect(sentBody()).toMatchObject({
      EmailAddress: "p@example.org",
      Enabled: false,
      MobilePhone: "(0207) 946-0000",
      TimeZone: "Eastern Standard Time",
      Username: "pshah",
      AdminUser: false,
      Preferences: 3,
      LanguageID: "4ed469ea-9f6e-4e20-8396-f6c02cf7d0f0",
    });
  });

  it("dryRun stops before the POST", async () => {
    const result = await h.call("update_gdpr", { userId: USER, enabled: false, dryRun: true });
    expect(result.structuredContent).toMatchObject({
      applied: false,
      dryRun: true,
      changed: [{ field: "enabled", before: true, after: false }],
    });
    expect(posts()).toHaveLength(0);
  });

  it("shares one token request among concurrent first calls", async () => {
    const fresh = await startHarness({ shareSandbox: h.sandbox });
    try {
      const results = await Promise.all(
        Array.from({ length: 8 }, () => fresh.call("update_gdpr", { userId: USER, enabled: true, dryRun: true })),
      );
      expect(results.every((r) => !r.isError)).toBe(true);
      expect(h.sandbox.state.twosms.tokenRequests()).toBe(1);
    } finally {
      await fresh.close();
    }
  });

  it("fetches a new token once on a 401 and repeats the call", async () => {
    await h.call("update_gdpr", { userId: USER, enabled: true, dryRun: true });
    h.sandbox.state.twosms.expireTokens();
    const result = await h.call("update_gdpr", { userId: USER, displayName: "After Expiry" });
    expect(result.isError).toBeFalsy();
    expect(h.sandbox.state.twosms.tokenRequests()).toBe(2);
    expect((result.structuredContent as { retries?: string[] }).retries?.join(" ")).toMatch(/HTTP 401: fetched a new access token/);
  });

  it("gives up with a clear error when the fresh token is refused too", async () => {
    h.sandbox.fault({
      provider: "twosms",
      method: "GET",
      status: 401,
      times: 2,
      body: { Message: "Authorization has been denied for this request." },
    });
    const result = await h.call("update_gdpr", { userId: USER, enabled: true });
    expect(result.isError).toBe(true);
    expect(h.text(result)).toMatch(/2SMS refused the credentials \(HTTP 401\)[\s\S]*even after a fresh one was requested/);
    expect(posts()).toHaveLength(0);
  });

  it("renews a token before it expires", async () => {
    const client = new TwoSmsClient({
      baseUrl: h.sandbox.baseUrls.twosms,
      clientId: SANDBOX_CREDENTIALS.twosmsClientId,
      clientSecret: SANDBOX_CREDENTIALS.twosmsClientSecret,
      expiryMarginMs: 0,
    });
    try {
      const ctx = createCallContext(3000);
      const first = await client.accessToken(ctx);
      expect(await client.accessToken(ctx)).toBe(first);
      // Pretend eight hours passed: the cached token is stale and a new one is fetched.
      (client as unknown as { token: { expiresAt: number } }).token.expiresAt = Date.now() - 1;
      expect(await client.accessToken(ctx)).not.toBe(first);
      expect(client.tokenRequests).toBe(2);
    } finally {
      await client.close();
    }
  });

  it("reports an envelope error under HTTP 200 as a failure", async () => {
    const result = await h.call("update_gdpr", { userId: USER, username: "tbaker" });
    expect(result.isError).toBe(true);
    expect(h.text(result)).toMatch(
      /2SMS reported an error \(HTTP 200\)[\s\S]*"DuplicateUsername: The username 'tbaker' is already in use\."/,
    );
  });

  it("reports an unknown user without writing", async () => {
    const result = await h.call("update_gdpr", { userId: "11111111-2222-3333-4444-555555555555", enabled: true });
    expect(h.text(result)).toMatch(/2SMS found nothing there[\s\S]*UserNotFound[\s\S]*no user with that id/);
    expect(posts()).toHaveLength(0);
  });

  it("shows HTTP 400 model-state errors by field", async () => {
    h.sandbox.fault({
      provider: "twosms",
      method: "POST",
      path: /UserUpdateGDPR/,
      status: 400,
      body: { Message: "The request is invalid.", ModelState: { "user.TimeZone": ["The time zone 'Mars' is not recognised."] } },
    });
    const text = h.text(await h.call("update_gdpr", { userId: USER, timeZone: "Mars" }));
    expect(text).toMatch(/rejected the request \(HTTP 400\)[\s\S]*- user\.TimeZone: The time zone 'Mars' is not recognised\./);
  });

  it("does not retry the POST on a 503 and says the write may have happened", async () => {
    h.sandbox.fault({ provider: "twosms", method: "POST", path: /UserUpdateGDPR/, status: 503, times: 3 });
    const text = h.text(await h.call("update_gdpr", { userId: USER, enabled: false }));
    expect(posts()).toHaveLength(1);
    expect(text).toMatch(/may or may not have been applied/);
  });

  it("retries the POST on a 429", async () => {
    h.sandbox.fault({ provider: "twosms", method: "POST", path: /UserUpdateGDPR/, status: 429, headers: { "retry-after": "0" } });
    const result = await h.call("update_gdpr", { userId: USER, enabled: false });
    expect(result.isError).toBeFalsy();
    expect(posts()).toHaveLength(2);
    // (The sandbox reset between tests revokes the cached token, so a 401 refresh may be listed too.)
    expect((result.structuredContent as { retries: string[] }).retries).toContain(
      `POST api/v1/UserAdminAPI/UserUpdateGDPR/${USER} was retried after HTTP 429`,
    );
  });

  it("does not retry the POST after a reset mid-request", async () => {
    h.sandbox.fault({ provider: "twosms", method: "POST", path: /UserUpdateGDPR/, kind: "reset" });
    const result = await h.call("update_gdpr", { userId: USER, enabled: false });
    expect(result.isError).toBe(true);
    expect(posts()).toHaveLength(1);
  });

  it("refuses to write when a required field is missing from the stored user", async () => {
    const u = h.sandbox.state.twosms.user(USER) as Record<string, unknown>;
    u.TimeZone = null;
    const result = await h.call("update_gdpr", { userId: USER, displayName: "X" });
    expect(h.text(result)).toMatch(/timeZone: 2SMS requires it on every update and the stored user has none; pass timeZone/);
    expect(posts()).toHaveLength(0);
    const fixed = await h.call("update_gdpr", { userId: USER, displayName: "X", timeZone: "UTC" });
    expect(fixed.isError).toBeFalsy();
  });

  it.each([
    [{ userId: "not-a-guid", enabled: true }, /userId: must be a GUID/],
    [{ userId: USER }, /give at least one field/],
    [{ userId: USER, agreementDate: "2026-01-01T00:00:00Z" }, /agreementDate is set by 2SMS itself \(read-only\)/],
    [{ userId: USER, DPAVersion: "4" }, /DPAVersion is set by 2SMS itself/],
    [{ userId: USER, DisplayName: "X" }, /DisplayName: unknown argument for update_gdpr; allowed here: userId, displayName/],
    [{ userId: USER, mobilePhone: "12" }, /mobilePhone: must be a phone number/],
    [{ userId: USER, emailAddress: "nope" }, /emailAddress: must be an email address/],
    [{ userId: USER, preferences: 1.5 }, /preferences/],
    [{ userId: USER, pin: PIN }, /pin: credential changes are disabled/],
    [{ userId: USER, password: "Canary-Secret-Pw-1" }, /password: credential changes are disabled/],
  ])("refuses %j without sending anything", async (args, message) => {
    const result = await h.call("update_gdpr", args);
    expect(result.isError).toBe(true);
    expect(h.text(result)).toMatch(message);
    expect(h.sandbox.requestsTo("twosms")).toHaveLength(0);
    expect(JSON.stringify(result)).not.toContain(PIN);
  });

  it("sends a PIN only when given and allowed, and never shows it", async () => {
    const allowed = await startHarness({ env: { USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "true" }, shareSandbox: h.sandbox });
    try {
      const result = await allowed.call("update_gdpr", { userId: USER, pin: PIN });
      expect(result.isError).toBeFalsy();
      expect(sentBody().Pin).toBe(PIN);
      expect(sentBody()).not.toHaveProperty("Password");
      expect(result.structuredContent).toMatchObject({ changed: [{ field: "pin", before: "(hidden)", after: "(changed; not shown)" }] });
      expect(JSON.stringify(result)).not.toContain(PIN);
      const random = await allowed.call("update_gdpr", { userId: USER, pin: null, dryRun: true });
      expect(random.structuredContent).toMatchObject({ changed: [{ field: "pin", after: "(random at each login)" }] });
    } finally {
      await allowed.close();
    }
  });

  it("explains refused client credentials without showing the secret", async () => {
    const bad = await startHarness({ env: { TWOSMS_CLIENT_SECRET: "wrong-secret-canary-123" }, shareSandbox: h.sandbox });
    try {
      const text = bad.text(await bad.call("update_gdpr", { userId: USER, enabled: true }));
      expect(text).toMatch(/2SMS refused the client credentials \(HTTP 400\)[\s\S]*invalid_client|client_id or client_secret is incorrect/);
      expect(text).toMatch(/check TWOSMS_CLIENT_ID and TWOSMS_CLIENT_SECRET/);
      expect(text).not.toContain("wrong-secret-canary-123");
      expect(bad.logs.join("\n")).not.toContain("wrong-secret-canary-123");
    } finally {
      await bad.close();
    }
  });

  it("works with a token obtained elsewhere, and says so when it is refused", async () => {
    const bad = await startHarness({
      env: { TWOSMS_CLIENT_ID: "", TWOSMS_CLIENT_SECRET: "", TWOSMS_ACCESS_TOKEN: "static-token-canary-999" },
      shareSandbox: h.sandbox,
    });
    try {
      const text = bad.text(await bad.call("update_gdpr", { userId: USER, enabled: true }));
      expect(text).toMatch(/HTTP 401[\s\S]*TWOSMS_ACCESS_TOKEN was refused/);
      expect(text).not.toContain("static-token-canary-999");
      expect(h.sandbox.requestsTo("twosms", "GET")[0]?.headers.authorization).toBe("Bearer static-token-canary-999");
    } finally {
      await bad.close();
    }
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SANDBOX_CREDENTIALS, type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { SANDBOX_TWOSMS_USER_ID } from "../src/sandbox/twosms.js";

// Contract tests of the stand-ins: each documented behaviour, straight over HTTP, no server code involved.
let sb: Sandbox;
beforeAll(async () => {
  sb = await startSandbox({ leadpingRateLimit: 3, leadconnectorRateLimit: 3 });
});
afterEach(() => sb.reset());
afterAll(() => sb.close());

const lp = (path: string, init: RequestInit = {}) => fetch(`${sb.baseUrls.leadping}${path}`, init);
const lc = (path: string, init: RequestInit = {}) => fetch(`${sb.baseUrls.leadconnector}${path}`, init);
const ts = (path: string, init: RequestInit = {}) => fetch(`${sb.baseUrls.twosms}${path}`, init);
const lpAuth = { authorization: `Bearer ${SANDBOX_CREDENTIALS.leadpingToken}` };
const lcAuth = { authorization: `Bearer ${SANDBOX_CREDENTIALS.leadconnectorToken}`, version: "2021-07-28" };

function requestToken(
  clientId: string = SANDBOX_CREDENTIALS.twosmsClientId,
  clientSecret: string = SANDBOX_CREDENTIALS.twosmsClientSecret,
) {
  return ts("/Token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret }),
  });
}

async function twosmsToken(): Promise<string> {
  return ((await (await requestToken()).json()) as { access_token: string }).access_token;
}

describe("Leadping stand-in", () => {
  it("401 problem details with WWW-Authenticate without the right bearer token", async () => {
    const res = await lp("/users/me");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer resource_metadata=/);
    expect(await res.json()).toMatchObject({ title: "Unauthorized", status: 401 });
  });

  it("serves both user shapes", async () => {
    expect(await (await lp("/users/me", { headers: lpAuth })).json()).toHaveProperty("notificationPreferences");
    const legacy = await (
      await lp("/users/me", { headers: { authorization: `Bearer ${SANDBOX_CREDENTIALS.leadpingLegacyToken}` } })
    ).json();
    expect(legacy).toHaveProperty("accountBalance");
  });

  it("replaces the compliance record with what PUT sends", async () => {
    const res = await lp("/users/compliance", {
      method: "PUT",
      headers: { ...lpAuth, "content-type": "application/json" },
      body: JSON.stringify({ compliance: { acceptedSms: true }, source: null }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { compliance: unknown }).compliance).toEqual({ acceptedSms: true });
  });

  it("429 with Retry-After past its rate limit", async () => {
    for (let i = 0; i < 3; i++) expect((await lp("/users/me", { headers: lpAuth })).status).toBe(200);
    const res = await lp("/users/me", { headers: lpAuth });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("LeadConnector stand-in", () => {
  it("401 with its error body for a wrong token", async () => {
    const res = await lc("/users/0IHuJvc2ofPAAA8GzTRi", { headers: { authorization: "Bearer nope", version: "2021-07-28" } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ statusCode: 401, message: "Invalid token: access token is invalid", error: "Unauthorized" });
  });

  it("403 for a write with a read-only token, 404 for an unknown user", async () => {
    const ro = {
      authorization: `Bearer ${SANDBOX_CREDENTIALS.leadconnectorReadOnlyToken}`,
      version: "2021-07-28",
      "content-type": "application/json",
    };
    expect((await lc("/users/0IHuJvc2ofPAAA8GzTRi", { method: "PUT", headers: ro, body: "{}" })).status).toBe(403);
    expect((await lc("/users/unknown", { headers: lcAuth })).status).toBe(404);
  });

  it("422 with an array of messages for invalid values; no twilioPhone or password in responses", async () => {
    const res = await lc("/users/0IHuJvc2ofPAAA8GzTRi", {
      method: "PUT",
      headers: { ...lcAuth, "content-type": "application/json" },
      body: JSON.stringify({ role: "owner", platformLanguage: "xx" }),
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { message: string[] }).message).toHaveLength(2);
    const user = await (await lc("/users/0IHuJvc2ofPAAA8GzTRi", { headers: lcAuth })).json();
    expect(user).not.toHaveProperty("twilioPhone");
    expect(user).not.toHaveProperty("password");
  });

  it("429 with the X-RateLimit headers past its burst limit", async () => {
    for (let i = 0; i < 3; i++) await lc("/users/0IHuJvc2ofPAAA8GzTRi", { headers: lcAuth });
    const res = await lc("/users/0IHuJvc2ofPAAA8GzTRi", { headers: lcAuth });
    expect(res.status).toBe(429);
    expect(res.headers.get("x-ratelimit-max")).toBe("3");
    expect(res.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(res.headers.get("x-ratelimit-interval-milliseconds")).toBe("10000");
  });
});

describe("2SMS stand-in", () => {
  it("grants an 8-hour bearer token for valid client credentials and refuses others as invalid_client", async () => {
    const ok = await requestToken();
    expect(await ok.json()).toMatchObject({ token_type: "bearer", expires_in: 28800 });
    const bad = await requestToken("x", "y");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: "invalid_client" });
  });

  it("401 on an expired token", async () => {
    const token = await twosmsToken();
    sb.state.twosms.expireTokens();
    expect((await ts(`/api/v1/admin/users/${SANDBOX_TWOSMS_USER_ID}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  it("wraps users in the envelope, and reports errors inside HTTP 200", async () => {
    const auth = { authorization: `Bearer ${await twosmsToken()}` };
    const found = await (await ts(`/api/v1/admin/users/${SANDBOX_TWOSMS_USER_ID}`, { headers: auth })).json();
    expect(found).toMatchObject({ Error: null, ResponseData: { Detail: { ID: SANDBOX_TWOSMS_USER_ID } } });
    const missing = await ts("/api/v1/admin/users/11111111-2222-3333-4444-555555555555", { headers: auth });
    expect(missing.status).toBe(200);
    expect(await missing.json()).toMatchObject({ Error: { ErrorCode: "UserNotFound" } });
  });

  it("400 with model state when a required field is missing or the phone fails its pattern", async () => {
    const auth = { authorization: `Bearer ${await twosmsToken()}`, "content-type": "application/json" };
    const res = await ts(`/api/v1/UserAdminAPI/UserUpdateGDPR/${SANDBOX_TWOSMS_USER_ID}`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ DisplayName: "X", MobilePhone: "12" }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { ModelState: Record<string, string[]> };
    expect(Object.keys(body.ModelState).sort()).toEqual([
      "user.EmailAddress",
      "user.Enabled",
      "user.LanguageID",
      "user.MobilePhone",
      "user.TimeZone",
      "user.Username",
    ]);
  });
});

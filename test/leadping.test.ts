import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { VERSION } from "../src/kernel/version.js";
import { type Harness, SANDBOX_CREDENTIALS, startHarness } from "./harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterEach(() => h.sandbox.reset());
afterAll(() => h.close());

const puts = () => h.sandbox.requestsTo("leadping", "PUT");

describe("get_current_user", () => {
  it("returns the user as structured content and the same JSON as text, from one authenticated GET", async () => {
    const result = await h.call("get_current_user");
    expect(result.isError).toBeFalsy();
    const user = result.structuredContent as Record<string, unknown>;
    expect(user.email).toBe("avery.quinn@example.com");
    expect((user.compliance as Record<string, unknown>).tcpaDisclosureVersion).toBe("2025-01");
    expect(JSON.parse(h.text(result))).toEqual(user);

    const [req, ...rest] = h.sandbox.requestsTo("leadping");
    expect(rest).toHaveLength(0);
    expect(req).toMatchObject({ method: "GET", path: "/users/me", body: "" });
    expect(req?.headers.authorization).toBe(`Bearer ${SANDBOX_CREDENTIALS.leadpingToken}`);
    expect(req?.headers.accept).toBe("application/json");
    expect(req?.headers["user-agent"]).toBe(`users-mcp/${VERSION}`);
    expect(req?.headers["content-type"]).toBeUndefined();
  });

  it("accepts the older user shape (stripeInfo, accountBalance, enum roles)", async () => {
    const legacy = await startHarness({ env: { LEADPING_API_TOKEN: SANDBOX_CREDENTIALS.leadpingLegacyToken }, shareSandbox: h.sandbox });
    try {
      const result = await legacy.call("get_current_user");
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({
        accountBalance: 42.5,
        stripeInfo: { customerId: "cus_SANDBOX" },
        roles: ["Initialized", "Agent"],
      });
    } finally {
      await legacy.close();
    }
  });

  it("refuses an unexpected argument by name and sends nothing", async () => {
    const result = await h.call("get_current_user", { userId: "someone-else" });
    expect(result.isError).toBe(true);
    expect(h.text(result)).toMatch(/userId: unknown argument for get_current_user/);
    expect(h.sandbox.requests).toHaveLength(0);
  });

  it("explains a refused token by naming the variable, never the token", async () => {
    const bad = await startHarness({ env: { LEADPING_API_TOKEN: "lp_src_definitely-wrong-token" }, shareSandbox: h.sandbox });
    try {
      const result = await bad.call("get_current_user");
      expect(result.isError).toBe(true);
      const text = bad.text(result);
      expect(text).toMatch(/Leadping refused the credentials \(HTTP 401\)/);
      expect(text).toMatch(/LEADPING_API_TOKEN/);
      expect(text).toMatch(/Source keys \(lp_src_…\)/);
      expect(text).not.toContain("definitely-wrong-token");
      expect(result.structuredContent).toBeUndefined();
      expect(bad.logs.join("\n")).not.toContain("definitely-wrong-token");
    } finally {
      await bad.close();
    }
  });

  it("names the variable to set when Leadping is not configured, without sending anything", async () => {
    const none = await startHarness({ env: { LEADPING_API_TOKEN: "" }, shareSandbox: h.sandbox });
    try {
      const result = await none.call("get_current_user");
      expect(result.isError).toBe(true);
      expect(none.text(result)).toMatch(/Leadping is not configured[\s\S]*Set LEADPING_API_TOKEN/);
      expect(h.sandbox.requests).toHaveLength(0);
    } finally {
      await none.close();
    }
  });
});

describe("update_compliance", () => {
  it("merges the given field over the current record and sends every other field back unchanged", async () => {
    const before = structuredClone(h.sandbox.state.leadping.userFor(SANDBOX_CREDENTIALS.leadpingToken)?.compliance) as Record<
      string,
      unknown
    >;
    const result = await h.call("update_compliance", { compliance: { acceptedSms: false }, source: "support chat" });
    expect(result.isError).toBeFalsy();
    const out = result.structuredContent as Record<string, unknown>;
    expect(out).toMatchObject({
      applied: true,
      dryRun: false,
      changed: [{ field: "acceptedSms", before: true, after: false }],
      // A withdrawal is sensitive; this test client declares no elicitation, so nobody could be asked.
      confirmation: "unavailable",
    });
    expect(out.warnings).toEqual([
      "This withdraws consent: acceptedSms goes from true to false.",
      "No person confirmed this change: the MCP host cannot ask (it did not declare elicitation).",
    ]);

    const [get, put, ...rest] = h.sandbox.requestsTo("leadping");
    expect(rest).toHaveLength(0);
    expect(get).toMatchObject({ method: "GET", path: "/users/me" });
    expect(put).toMatchObject({ method: "PUT", path: "/users/compliance" });
    expect(put?.headers["content-type"]).toBe("application/json");
    expect(put?.headers.authorization).toBe(`Bearer ${SANDBOX_CREDENTIALS.leadpingToken}`);
    expect(JSON.parse(put?.body ?? "")).toEqual({ compliance: { ...before, acceptedSms: false }, source: "support chat" });
    // The unmodelled field survived the round trip on the server.
    expect(h.sandbox.state.leadping.userFor(SANDBOX_CREDENTIALS.leadpingToken)?.compliance).toMatchObject({
      tcpaDisclosureVersion: "2025-01",
      licensedStates: ["TX", "OK"],
      acceptedSms: false,
    });
  });

  it("sends source as null when none is given", async () => {
    await h.call("update_compliance", { compliance: { acceptedBaa: true } });
    expect(JSON.parse(puts()[0]?.body ?? "").source).toBeNull();
  });

  it("dryRun computes the change and writes nothing", async () => {
    const result = await h.call("update_compliance", { compliance: { licensedStates: ["ca", " tx", "CA"] }, dryRun: true });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      applied: false,
      dryRun: true,
      changed: [{ field: "licensedStates", before: ["TX", "OK"], after: ["CA", "TX"] }],
      compliance: { licensedStates: ["CA", "TX"], acceptedSms: true },
    });
    expect(h.text(result)).toMatch(/Nothing was written/);
    expect(puts()).toHaveLength(0);
  });

  it("says so and skips the PUT when nothing would change", async () => {
    const result = await h.call("update_compliance", { compliance: { acceptedTerms: true, licensedStates: ["tx", "ok"] } });
    expect(result.structuredContent).toMatchObject({ applied: false, changed: [] });
    expect((result.structuredContent as { message: string }).message).toMatch(/Nothing to change/);
    expect(puts()).toHaveLength(0);
  });

  it("fills a certificate id from its URL and keeps what the stored certificate had", async () => {
    const stored = "https://cert.trustedform.com/0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
    const added = "https://cert.trustedform.com/ffffeeeeddddccccbbbbaaaa9999888877776666";
    const result = await h.call("update_compliance", {
      compliance: { trustedFormCertificates: [{ url: stored }, { url: added, source: "webform" }] },
    });
    expect(result.isError).toBeFalsy();
    const sent = JSON.parse(puts()[0]?.body ?? "").compliance.trustedFormCertificates;
    expect(sent).toEqual([
      { id: "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", url: stored, source: "landing-page", createdAt: "2025-03-02T15:04:05Z" },
      { id: "ffffeeeeddddccccbbbbaaaa9999888877776666", url: added, source: "webform" },
    ]);
  });

  it.each([
    [
      { compliance: { licensedStates: ["CA", "ZZ", "qq"] } },
      /compliance\.licensedStates\[1\]: not a US state or territory code[\s\S]*compliance\.licensedStates\[2\]: not a US state/,
    ],
    [
      { compliance: { trustedFormCertificates: [{ url: "https://evil.example.com/cert/1" }] } },
      /compliance\.trustedFormCertificates\[0\]\.url: must be a TrustedForm certificate URL/,
    ],
    [{ compliance: { trustedFormCertificates: [{ url: "http://cert.trustedform.com/abc" }] } }, /trustedFormCertificates\[0\]\.url/],
    [{ compliance: {} }, /compliance: give at least one compliance field/],
    [{}, /compliance: required/],
    [{ compliance: { acceptedSms: "yes" } }, /compliance\.acceptedSms: Invalid input: expected boolean/],
    [
      { compliance: { acceptedSMS: true } },
      /compliance\.acceptedSMS: unknown argument for update_compliance; allowed here: acceptedTerms, .*acceptedSms/,
    ],
    [{ compliance: { acceptedSms: true }, force: true }, /force: unknown argument/],
  ])("refuses %j before sending anything", async (args, message) => {
    const result = await h.call("update_compliance", args);
    expect(result.isError).toBe(true);
    expect(h.text(result)).toMatch(message);
    expect(h.text(result)).toMatch(/Nothing was sent upstream/);
    expect(h.sandbox.requests).toHaveLength(0);
  });

  it("shows the fields Leadping rejected, from its problem details", async () => {
    h.sandbox.fault({
      provider: "leadping",
      method: "PUT",
      status: 400,
      headers: { "content-type": "application/problem+json" },
      body: {
        type: "about:blank",
        title: "One or more validation errors occurred.",
        status: 400,
        errors: { "compliance.licensedProducts": ["Unknown product 'Boats'."] },
      },
    });
    const result = await h.call("update_compliance", { compliance: { licensedProducts: ["Boats"] } });
    expect(result.isError).toBe(true);
    const text = h.text(result);
    expect(text).toMatch(/Leadping rejected the request \(HTTP 400\)/);
    expect(text).toMatch(/- compliance\.licensedProducts: Unknown product 'Boats'\./);
    expect(puts()).toHaveLength(1);
  });

  it("rejects a non-TrustedForm URL at the sandbox too (the upstream's own check)", async () => {
    // Bypasses the tool's validation to prove the stand-in behaves like Leadping.
    const res = await fetch(`${h.sandbox.baseUrls.leadping}/users/compliance`, {
      method: "PUT",
      headers: { authorization: `Bearer ${SANDBOX_CREDENTIALS.leadpingToken}`, "content-type": "application/json" },
      body: JSON.stringify({ compliance: { trustedFormCertificates: [{ url: "https://example.com/x" }] }, source: null }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/problem\+json/);
  });
});

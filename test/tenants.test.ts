import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCallContext } from "../src/client/call-context.js";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { loadConfig } from "../src/settings/config.js";
import { callerCredentialProblem, TenantClients } from "../src/transport/tenants.js";
import { SANDBOX_CREDENTIALS } from "./harness.js";

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(() => sandbox.close());

const config = () =>
  loadConfig({
    LEADPING_BASE_URL: sandbox.baseUrls.leadping,
    LEADCONNECTOR_BASE_URL: sandbox.baseUrls.leadconnector,
    TWOSMS_BASE_URL: sandbox.baseUrls.twosms,
    USERS_MCP_AUDIT_LOG: "off",
  });

describe("the caller-credentials cache", () => {
  it("a request that calls no tool makes no entry", () => {
    const tenants = new TenantClients(config());
    for (let i = 0; i < 1_000; i++) {
      const { tenant, clients } = tenants.forRequest({ "x-leadping-token": `token-${i}`.padEnd(3_500, "x") });
      expect(tenant).toBeTypeOf("string");
      void clients.close();
    }
    expect(tenants.usage).toEqual({ entries: 0, bytes: 0 });
  });

  it("stays within its count and byte budget, least recently used idle entries first", async () => {
    const tenants = new TenantClients(config(), {}, 10, 1024 * 1024);
    for (let i = 0; i < 200; i++) {
      const { clients } = tenants.forRequest({ "x-leadping-token": `token-${i}`.padEnd(2_000, "x") });
      clients.leadping();
      await clients.close();
      expect(tenants.usage.entries).toBeLessThanOrEqual(10);
      expect(tenants.usage.bytes).toBeLessThanOrEqual(1024 * 1024);
    }
    await tenants.close();
  });

  it("never closes a client from under the request using it", async () => {
    const tenants = new TenantClients(config(), {}, 1);
    const a = tenants.forRequest({ "x-leadping-token": SANDBOX_CREDENTIALS.leadpingToken });
    const client = a.clients.leadping();
    // A second tenant arrives while the first request is still using its client: over the count
    // budget, but the client in use stays open.
    const b = tenants.forRequest({ "x-leadping-token": SANDBOX_CREDENTIALS.leadpingLegacyToken });
    b.clients.leadping();
    expect(tenants.usage.entries).toBe(2);
    const ctx = createCallContext(5_000);
    try {
      await expect(client.getCurrentUser(ctx)).resolves.toBeTruthy();
    } finally {
      ctx.dispose();
    }
    await a.clients.close();
    await b.clients.close();
    expect(tenants.usage.entries).toBe(1);
    await tenants.close();
  });

  it("names the header of an implausible credential", () => {
    expect(callerCredentialProblem({ "x-leadping-token": "Reyes" })).toMatch(/^X-Leadping-Token is 5 characters long/);
    expect(callerCredentialProblem({ "x-leadconnector-token": '"phase":"intent"' })).toBeUndefined(); // long enough, no spaces
    expect(callerCredentialProblem({ "x-twosms-client-id": "a b" })).toMatch(/^X-TwoSMS-Client-Id holds spaces/);
    expect(callerCredentialProblem({ "x-twosms-client-id": "short" })).toBeUndefined(); // an id is no secret
    expect(callerCredentialProblem({ "x-leadping-token": ["a".repeat(20), "b".repeat(20)] })).toMatch(/sent more than once/);
    expect(callerCredentialProblem({ "x-twosms-access-token": "" })).toMatch(/is empty/);
    expect(callerCredentialProblem({})).toBeUndefined();
  });
});

describe("a call's own secrets", () => {
  it("are scrubbed from that call's text only, and written values only from error text", () => {
    const a = createCallContext(1_000);
    const b = createCallContext(1_000);
    try {
      a.keepSecret("tenant-a-token-0123456789");
      a.keepSecret("2026", "errors");
      expect(a.scrub("echo tenant-a-token-0123456789 PIN 2026")).toBe("echo [redacted] PIN [redacted]");
      expect(a.secrets).toEqual(["tenant-a-token-0123456789"]);
      expect(b.scrub("echo tenant-a-token-0123456789 PIN 2026")).toBe("echo tenant-a-token-0123456789 PIN 2026");
      expect(b.secrets).toBeUndefined();
      a.keepSecret("abc"); // too short to scrub: it would match ordinary words
      expect(a.scrub("abc")).toBe("abc");
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});

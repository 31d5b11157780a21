import { createServer } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseRetryAfter } from "../src/client/request.js";
import { type Harness, startHarness } from "./harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { USERS_MCP_TIMEOUT_MS: "1500" } });
});
afterEach(() => h.sandbox.reset());
afterAll(() => h.close());

const gets = () => h.sandbox.requestsTo("leadping", "GET");

describe("retries", () => {
  it("retries a 503 and succeeds, and the write result says it retried", async () => {
    h.sandbox.fault({ provider: "leadping", method: "PUT", status: 503, body: { title: "Service Unavailable" } });
    const result = await h.call("update_compliance", { compliance: { acceptedBaa: true } });
    expect(result.isError).toBeFalsy();
    expect(h.sandbox.requestsTo("leadping", "PUT")).toHaveLength(2);
    expect((result.structuredContent as { retries: string[] }).retries).toEqual(["PUT users/compliance was retried after HTTP 503"]);
  });

  it("honours a short Retry-After on 429", async () => {
    h.sandbox.fault({
      provider: "leadping",
      status: 429,
      headers: { "retry-after": "1" },
      body: { title: "Too Many Requests", status: 429 },
    });
    const started = Date.now();
    const result = await h.call("get_current_user");
    expect(result.isError).toBeFalsy();
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(gets()).toHaveLength(2);
  });

  it("does not sleep through a long Retry-After: it says when to come back", async () => {
    h.sandbox.fault({
      provider: "leadping",
      status: 429,
      headers: { "retry-after": "60" },
      body: { title: "Too Many Requests", detail: "Rate limit exceeded." },
    });
    const result = await h.call("get_current_user");
    expect(result.isError).toBe(true);
    expect(h.text(result)).toMatch(/rate-limiting[\s\S]*Retry after 60 seconds/);
    expect(gets()).toHaveLength(1);
  });

  it("gives up after two retries of a 429 without Retry-After", async () => {
    h.sandbox.fault({ provider: "leadping", status: 429, times: 5, body: { title: "Too Many Requests" } });
    const result = await h.call("get_current_user");
    expect(result.isError).toBe(true);
    expect(h.text(result)).toMatch(/no Retry-After was given/);
    expect(h.text(result)).toMatch(/3 attempts/);
    expect(gets()).toHaveLength(3);
  });

  it("does not retry a 500 or a 4xx", async () => {
    h.sandbox.fault({ provider: "leadping", status: 500, body: { title: "Internal Server Error" } });
    const result = await h.call("get_current_user");
    expect(result.isError).toBe(true);
    expect(h.text(result)).toMatch(/server error \(HTTP 500\)[\s\S]*Internal Server Error/);
    expect(gets()).toHaveLength(1);
  });

  it("retries a connection reset on a GET", async () => {
    h.sandbox.fault({ provider: "leadping", kind: "reset" });
    const result = await h.call("get_current_user");
    expect(result.isError).toBeFalsy();
    expect(gets()).toHaveLength(2);
  });

  it("parses Retry-After as seconds or as an HTTP date", () => {
    expect(parseRetryAfter("2")).toBe(2000);
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString(), Date.now())).toBeGreaterThan(3000);
    expect(parseRetryAfter("soon")).toBeUndefined();
  });
});

describe("failures explained", () => {
  it("ends a hung request at the deadline and names it", async () => {
    h.sandbox.fault({ provider: "leadping", kind: "hang" });
    const started = Date.now();
    const result = await h.call("get_current_user");
    const took = Date.now() - started;
    expect(result.isError).toBe(true);
    expect(h.text(result)).toMatch(/did not answer within the 1500 ms deadline[\s\S]*USERS_MCP_TIMEOUT_MS/);
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(took).toBeLessThan(4000);
  });

  it("ends a body that never finishes at the deadline", async () => {
    h.sandbox.fault({ provider: "leadping", kind: "stall" });
    const result = await h.call("get_current_user");
    expect(h.text(result)).toMatch(/deadline/);
  });

  it("reports a body that is not JSON with the base URL to check", async () => {
    h.sandbox.fault({ provider: "leadping", kind: "nonjson" });
    const result = await h.call("get_current_user");
    expect(h.text(result)).toMatch(/not JSON \(content type text\/html\)[\s\S]*LEADPING_BASE_URL \(http:\/\/127\.0\.0\.1:\d+\/leadping\)/);
  });

  it("refuses a response over 1 MiB without reading it all", async () => {
    h.sandbox.fault({ provider: "leadping", kind: "huge" });
    const result = await h.call("get_current_user");
    expect(h.text(result)).toMatch(/larger than 1024 KiB/);
  });

  it("reports a body of the wrong shape", async () => {
    h.sandbox.fault({ provider: "leadping", status: 200, body: { email: 42 } });
    const result = await h.call("get_current_user");
    expect(h.text(result)).toMatch(/unexpected shape \(email: /);
  });

  it("keeps serving after every failure", async () => {
    h.sandbox.fault({ provider: "leadping", status: 500 });
    await h.call("get_current_user");
    const ok = await h.call("get_current_user");
    expect(ok.isError).toBeFalsy();
  });
});

describe("unreachable upstream", () => {
  it("names the base URL when the connection is refused, after retrying", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const down = await startHarness({ env: { LEADPING_BASE_URL: `http://127.0.0.1:${port}/api` }, shareSandbox: h.sandbox });
    try {
      const result = await down.call("get_current_user");
      expect(result.isError).toBe(true);
      expect(down.text(result)).toMatch(new RegExp(`could not be reached at http://127\\.0\\.0\\.1:${port}/api \\(connection refused\\)`));
      expect(down.text(result)).toMatch(/Check that LEADPING_BASE_URL/);
      expect(down.text(result)).toMatch(/3 attempts/);
    } finally {
      await down.close();
    }
  });
});

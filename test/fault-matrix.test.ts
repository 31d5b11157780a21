/**
 * Every upstream fault against a read (GET), an idempotent write (PUT) and a write that must not be
 * repeated blindly (POST): each ends in a clear isError within the deadline, retried only where the
 * policy allows (the attempts are counted at the stand-in), and the next call succeeds once the
 * fault clears.
 */
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Fault, SandboxProvider } from "../src/sandbox/index.js";
import { SANDBOX_TWOSMS_USER_ID } from "../src/sandbox/twosms.js";
import { type Harness, startHarness } from "./harness.js";

const DEADLINE_MS = 1000;
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { USERS_MCP_TIMEOUT_MS: String(DEADLINE_MS) } });
  // The process's first call loads the call path; on a loaded machine that ate into the first fault's
  // 1000 ms deadline (three retries of an HTTP 500 then missed it). The faults are about the upstream.
  await h.call("get_current_user", {});
  h.sandbox.reset();
});
afterEach(() => h.sandbox.reset());
afterAll(() => h.close());

interface Target {
  label: string;
  tool: string;
  args: Record<string, unknown>;
  provider: SandboxProvider;
  method: "GET" | "PUT" | "POST";
  path: string | RegExp;
}

const TARGETS: Target[] = [
  { label: "GET (read)", tool: "get_current_user", args: {}, provider: "leadping", method: "GET", path: "/users/me" },
  {
    label: "PUT (idempotent write)",
    tool: "update_compliance",
    args: { compliance: { licensedStates: ["CA"] } },
    provider: "leadping",
    method: "PUT",
    path: "/users/compliance",
  },
  {
    label: "POST (write never repeated blindly)",
    tool: "update_gdpr",
    args: { userId: SANDBOX_TWOSMS_USER_ID, displayName: "Fault Matrix" },
    provider: "twosms",
    method: "POST",
    path: /UserUpdateGDPR/,
  },
];

interface Case {
  fault: Omit<Fault, "provider" | "method" | "path">;
  /** Attempts the stand-in sees for GET, PUT, POST. */
  attempts: [number, number, number];
  message: RegExp;
  /** Whether a write's result must say it may have been applied. */
  maybeApplied: boolean;
}

const CASES: Record<string, Case> = {
  "HTTP 500": {
    fault: { status: 500, body: { title: "Internal Server Error" } },
    attempts: [1, 1, 1],
    message: /server error \(HTTP 500\)/,
    maybeApplied: true,
  },
  "HTTP 502": {
    fault: { status: 502, body: "Bad Gateway" },
    attempts: [3, 3, 1],
    message: /server error \(HTTP 502\)/,
    maybeApplied: true,
  },
  "HTTP 503": {
    fault: { status: 503, body: { title: "Service Unavailable" } },
    attempts: [3, 3, 1],
    message: /HTTP 503/,
    maybeApplied: true,
  },
  "HTTP 504": { fault: { status: 504, body: "" }, attempts: [3, 3, 1], message: /HTTP 504/, maybeApplied: true },
  "HTTP 429 without Retry-After": {
    fault: { status: 429, body: { title: "Too Many Requests" } },
    attempts: [3, 3, 3],
    message: /rate-limiting[\s\S]*no Retry-After was given/,
    maybeApplied: false,
  },
  "HTTP 429 with a long Retry-After": {
    fault: { status: 429, headers: { "retry-after": "120" }, body: { title: "Too Many Requests" } },
    attempts: [1, 1, 1],
    message: /rate-limiting[\s\S]*Retry after 120 seconds/,
    maybeApplied: false,
  },
  "connection reset before any response": {
    fault: { kind: "reset" },
    attempts: [3, 3, 1],
    message: /could not be reached at http:\/\/127\.0\.0\.1:\d+\/(leadping|2sms) \(connection closed by the other side\)/,
    maybeApplied: true,
  },
  "connection reset mid-body": {
    fault: { kind: "partial" },
    attempts: [3, 3, 1],
    message: /could not be reached[\s\S]*connection closed by the other side|UND_ERR_SOCKET|ECONNRESET/,
    maybeApplied: true,
  },
  "no response headers (headers timeout)": {
    fault: { kind: "hang" },
    attempts: [1, 1, 1],
    message: /did not answer within the 1000 ms deadline/,
    maybeApplied: true,
  },
  "a body that never ends (body timeout)": {
    fault: { kind: "stall" },
    attempts: [1, 1, 1],
    message: /did not answer within the 1000 ms deadline/,
    maybeApplied: true,
  },
  "malformed JSON": {
    fault: { status: 200, headers: { "content-type": "application/json" }, body: '{"id": "abc", ' },
    attempts: [1, 1, 1],
    message: /body that is not JSON \(content type application\/json\)/,
    maybeApplied: true,
  },
  "wrong content type (an HTML page)": {
    fault: { kind: "nonjson" },
    attempts: [1, 1, 1],
    message: /body that is not JSON \(content type text\/html\)[\s\S]*points at the .* API and not at a proxy or web page/,
    maybeApplied: true,
  },
  "a 50 MB body": { fault: { kind: "huge" }, attempts: [1, 1, 1], message: /larger than 1024 KiB; it was not read/, maybeApplied: true },
};

describe.each(TARGETS.map((t, i) => [t.label, t, i] as const))("%s", (_label, target, index) => {
  it.each(Object.entries(CASES))("%s", async (_name, c) => {
    const attempts = () =>
      h.sandbox.requests.filter(
        (r) =>
          r.provider === target.provider &&
          r.method === target.method &&
          (typeof target.path === "string" ? r.path === target.path : target.path.test(r.path)),
      ).length;
    h.sandbox.fault({ ...c.fault, provider: target.provider, method: target.method, path: target.path, times: 5 });
    const started = Date.now();
    const result = await h.call(target.tool, target.args);
    const took = Date.now() - started;

    expect(result.isError).toBe(true);
    const text = h.text(result);
    expect(text).toMatch(c.message);
    expect(attempts()).toBe(c.attempts[index]);
    const expectedRetries = c.attempts[index] as number;
    if (expectedRetries > 1) expect(text).toContain(`${expectedRetries} attempts`);
    if (target.method !== "GET") {
      if (c.maybeApplied) expect(text).toMatch(/may or may not have been applied/);
      else expect(text).not.toMatch(/may or may not have been applied/);
    }
    // Within the deadline, with room for the last attempt to be torn down.
    // Well below any backstop (undici's 300 s, the 10 s connect timeout): the deadline ended it. The
    // margin is for a loaded machine, where a fresh process loads undici slowly.
    expect(took).toBeLessThan(DEADLINE_MS + 3_000);

    h.sandbox.clearFaults();
    const next = await h.call(target.tool, target.args);
    expect(next.isError, h.text(next)).toBeFalsy();
  });
});

describe("content types", () => {
  it("accepts a JSON body labelled text/plain: the body, not the label, is checked", async () => {
    const me = (await h.call("get_current_user")).structuredContent;
    h.sandbox.fault({ provider: "leadping", status: 200, headers: { "content-type": "text/plain" }, body: JSON.stringify(me) });
    const result = await h.call("get_current_user");
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual(me);
  });
});

describe("timeouts before any HTTP", { tags: ["slow"] }, () => {
  /** A TCP server that accepts and then says nothing: a TLS handshake to it never completes. */
  async function silentServer(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
    const sockets = new Set<Socket>();
    const server = createTcpServer((s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return { server, port: (server.address() as { port: number }).port, sockets };
  }

  it("ends a connection that never completes its handshake at the deadline, and names the base URL", async () => {
    const silent = await silentServer();
    const down = await startHarness({
      env: { LEADPING_BASE_URL: `https://127.0.0.1:${silent.port}/api`, USERS_MCP_TIMEOUT_MS: "800" },
      shareSandbox: h.sandbox,
    });
    try {
      const started = Date.now();
      const result = await down.call("get_current_user");
      expect(Date.now() - started).toBeLessThan(5_000); // the 10 s connect timeout did not decide it
      expect(result.isError).toBe(true);
      expect(down.text(result)).toMatch(
        /did not answer within the 800 ms deadline[\s\S]*LEADPING_BASE_URL \(https:\/\/127\.0\.0\.1:\d+\/api\)/,
      );
    } finally {
      await down.close();
      for (const s of silent.sockets) s.destroy();
      await new Promise<void>((r) => silent.server.close(() => r()));
    }
  });

  it("does not retry a write whose connection was refused more than the policy allows, and says nothing was sent", async () => {
    const probe = await silentServer();
    await new Promise<void>((r) => probe.server.close(() => r()));
    const down = await startHarness({ env: { TWOSMS_BASE_URL: `http://127.0.0.1:${probe.port}` }, shareSandbox: h.sandbox });
    try {
      const result = await down.call("update_gdpr", { userId: SANDBOX_TWOSMS_USER_ID, displayName: "Nobody Home" });
      expect(result.isError).toBe(true);
      expect(down.text(result)).toMatch(/could not be reached at http:\/\/127\.0\.0\.1:\d+ \(connection refused\)/);
      expect(down.text(result)).not.toMatch(/may or may not have been applied/);
    } finally {
      await down.close();
    }
  });
});

import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { type Oidc, startOidc } from "./fixtures/oidc.js";
import { isolatedEnv, sandboxEnv } from "./harness.js";
import { MCP_HEADERS, type Remote, startHttp } from "./http-harness.js";

// Token checks against a real OpenID provider (oidc-provider) issuing opaque access tokens, whose
// introspection endpoint the fixture watches (calls, how many at once) and bends (slow, or saying
// something else): the issuer must not be a lever against this server, nor this server against it.

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

const SECRET = "machine-secret-0123456789";
let oidc: Oidc;
let sandbox: Sandbox;
let remote: Remote;
let resource: string;

const start = (port: number, env: Record<string, string | undefined> = {}) =>
  startHttp(
    sandboxEnv(sandbox, {
      ...isolatedEnv(),
      USERS_MCP_OAUTH_ISSUER: oidc.issuer,
      USERS_MCP_PUBLIC_URL: `http://127.0.0.1:${port}`,
      USERS_MCP_OAUTH_CLIENT_ID: "machine",
      USERS_MCP_OAUTH_CLIENT_SECRET: SECRET,
      USERS_MCP_AUDIT_LOG: "off",
      USERS_MCP_HTTP_MAX_IN_FLIGHT: "4",
      ...env,
    }),
    ["--port", String(port)],
  );

beforeAll(async () => {
  const port = await freePort();
  resource = `http://127.0.0.1:${port}/mcp`;
  [oidc, sandbox] = await Promise.all([startOidc(resource, [resource]), startSandbox()]);
  remote = await start(port);
});
afterAll(async () => {
  await remote?.stop();
  await Promise.all([oidc?.close(), sandbox?.close()]);
});
beforeEach(() => {
  oidc.introspection.delayMs = 0;
  oidc.introspection.rewrite = undefined;
});

const list = (token: string, url = remote.url) =>
  fetch(url, {
    method: "POST",
    headers: { ...MCP_HEADERS, "mcp-protocol-version": "2025-11-25", authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
const opaque = async (scope = "users:read") => {
  const token = await oidc.token(scope);
  expect(token.split(".").length).not.toBe(3);
  return token;
};
const message = async (res: Response) => ((await res.json()) as { error?: { message: string } }).error?.message ?? "";

describe("introspection: cached, capped, one attempt under a deadline", () => {
  it("100 requests with one token make at most 2 introspection calls; a refused token is remembered too", async () => {
    const token = await opaque();
    const before = oidc.introspection.calls;
    for (let i = 0; i < 100; i++) expect((await list(token)).status).toBe(200);
    expect(oidc.introspection.calls - before).toBeGreaterThanOrEqual(1);
    expect(oidc.introspection.calls - before).toBeLessThanOrEqual(2);

    const unknown = `never-issued-${randomBytes(16).toString("hex")}`;
    const mid = oidc.introspection.calls;
    for (let i = 0; i < 30; i++) expect((await list(unknown)).status).toBe(401);
    expect(oidc.introspection.calls - mid).toBeLessThanOrEqual(2);
  });

  it("the issuer's metadata is discovered once and kept", () => {
    const discovery = oidc.paths.filter((p) => p.startsWith("/.well-known/"));
    expect(discovery.length).toBe(1);
  });

  it("300 random tokens with USERS_MCP_HTTP_MAX_IN_FLIGHT=4 and a 2 s introspection: at most 4 at the issuer at once", {
    tags: ["slow"],
  }, async () => {
    expect((await list(await opaque())).status).toBe(200); // the issuer's metadata is known (when run alone)
    oidc.introspection.delayMs = 2_000;
    oidc.introspection.maxInFlight = 0;
    const before = oidc.introspection.calls;
    // Under this load a check may pass its deadline (503, the issuer named) instead of being refused (401).
    const answers = await Promise.all(
      Array.from({ length: 300 }, async () => {
        const res = await list(`random-${randomBytes(16).toString("hex")}`);
        return { status: res.status, retryAfter: res.headers.get("retry-after"), message: await message(res) };
      }),
    );
    expect(oidc.introspection.maxInFlight).toBeGreaterThanOrEqual(1);
    expect(oidc.introspection.maxInFlight).toBeLessThanOrEqual(4);
    expect(oidc.introspection.calls - before).toBeGreaterThanOrEqual(1);
    expect(oidc.introspection.calls - before).toBeLessThanOrEqual(300);
    const statuses = new Set(answers.map((a) => a.status));
    expect(
      [...statuses].every((s) => s === 401 || s === 503),
      JSON.stringify([...statuses]),
    ).toBe(true);
    const busy = answers.filter((a) => a.status === 503);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    for (const b of busy) {
      expect(b.retryAfter).not.toBeNull();
      expect(b.message).toMatch(new RegExp(`Too many requests in flight \\(4\\)|the issuer ${oidc.issuer} did not answer within`));
    }
    expect(busy.filter((b) => b.message.includes("Too many requests in flight (4)")).length).toBeGreaterThanOrEqual(1);
    // And it serves as before once the flood is over.
    oidc.introspection.delayMs = 0;
    expect((await list(await opaque())).status).toBe(200);
  });

  it("an issuer that answers after 7 s: 503 naming the issuer within 6 s, not invalid_token", { tags: ["slow"] }, async () => {
    const token = await opaque();
    oidc.introspection.delayMs = 7_000;
    const started = Date.now();
    const res = await list(token);
    const took = Date.now() - started;
    expect(res.status).toBe(503);
    expect(took).toBeLessThan(6_000);
    expect(res.headers.get("retry-after")).not.toBeNull();
    expect(res.headers.get("www-authenticate")).toBeNull();
    const text = await message(res);
    expect(text).toContain(`the issuer ${oidc.issuer} did not answer within`);
    expect(text).not.toContain(token);
    // An issuer failure is not remembered: once it answers in time, the same token works.
    oidc.introspection.delayMs = 0;
    expect((await list(token)).status).toBe(200);
  });

  it("an issuer whose metadata answers after 7 s: 503 naming the issuer within 6 s (one attempt, not one per address)", {
    tags: ["slow"],
  }, async () => {
    const port = await freePort();
    const jwtOnly = await start(port, { USERS_MCP_OAUTH_CLIENT_ID: undefined, USERS_MCP_OAUTH_CLIENT_SECRET: undefined });
    try {
      const token = await oidc.sign({ aud: `http://127.0.0.1:${port}/mcp`, scope: "users:read" });
      oidc.slow = { prefix: "/.well-known/", ms: 7_000 };
      const started = Date.now();
      const res = await list(token, jwtOnly.url);
      expect(Date.now() - started).toBeLessThan(6_000);
      expect(res.status).toBe(503);
      expect(await message(res)).toContain(`the issuer ${oidc.issuer} did not answer within`);
      oidc.slow = undefined;
      expect((await list(token, jwtOnly.url)).status).toBe(200);
    } finally {
      oidc.slow = undefined;
      await jwtOnly.stop();
    }
  });

  it("an introspection answer with nbf in the future, or of a refresh token, is refused", async () => {
    oidc.introspection.rewrite = (body) => ({ ...body, nbf: Math.floor(Date.now() / 1000) + 3600 });
    const early = await list(await opaque());
    expect(early.status).toBe(401);
    expect(early.headers.get("www-authenticate")).toMatch(/error="invalid_token", error_description="the token is not valid yet"/);

    oidc.introspection.rewrite = (body) => ({ ...body, token_type: "refresh_token" });
    const refresh = await list(await opaque());
    expect(refresh.status).toBe(401);
    expect(refresh.headers.get("www-authenticate")).toMatch(/error_description="the token is not an access token/);

    // What oidc-provider says of its own access tokens (token_type Bearer) is accepted.
    oidc.introspection.rewrite = undefined;
    expect((await list(await opaque())).status).toBe(200);
  });

  it("when the issuer rejects this server's own client, callers get 503 naming the issuer, not invalid_token", async () => {
    const port = await freePort();
    const wrong = await start(port, { USERS_MCP_OAUTH_CLIENT_SECRET: "not-the-machine-secret-000" });
    try {
      const res = await list(await opaque(), wrong.url);
      expect(res.status).toBe(503);
      expect(res.headers.get("www-authenticate")).toBeNull();
      const text = await message(res);
      expect(text).toContain(`the issuer ${oidc.issuer} refused this server's own client`);
      expect(text).toContain("USERS_MCP_OAUTH_CLIENT_SECRET");
      expect(text).not.toContain("not-the-machine-secret-000");
      expect(wrong.stderr.join("")).not.toContain("not-the-machine-secret-000");
      expect(wrong.stderr.join("")).toMatch(/warn: oauth: access tokens cannot be checked/);
    } finally {
      await wrong.stop();
    }
  });
});

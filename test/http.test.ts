import { mkdtempSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { runCli, SANDBOX_CREDENTIALS, sandboxEnv, until } from "./harness.js";
import { INIT, jsonLines, MCP_HEADERS, mcpClient, post, type Remote, startHttp, TOKEN, text } from "./http-harness.js";

let sandbox: Sandbox;
beforeAll(async () => {
  // Rate limits high enough for the 300-call burst: the 429 path is covered in the fault tests.
  sandbox = await startSandbox({ leadpingRateLimit: 1_000_000, leadconnectorRateLimit: 1_000_000 });
});
afterAll(() => sandbox.close());
beforeEach(() => sandbox.reset());

describe("server credentials (default)", () => {
  it("refuses to start without USERS_MCP_HTTP_TOKEN, and on a non-loopback address without one even in the sandbox", async () => {
    const r = await runCli(["--http", "--port", "0"], sandboxEnv(sandbox));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/USERS_MCP_HTTP_TOKEN is required with --http/);
    const wide = await runCli(["--http", "--sandbox", "--port", "0", "--host", "0.0.0.0"]);
    expect(wide.code).toBe(1);
    expect(wide.stderr).toMatch(/--host 0\.0\.0\.0 goes beyond this machine, and no USERS_MCP_HTTP_TOKEN is set/);
  });

  it("needs the bearer token on every request (401 with WWW-Authenticate, nothing echoed), then serves tools", async () => {
    const s = await startHttp(sandboxEnv(sandbox, { USERS_MCP_HTTP_TOKEN: TOKEN }));
    try {
      for (const auth of [undefined, "Bearer wrong-token-attempt-1", `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
        const res = await post(s.url, JSON.stringify(INIT), auth ? { authorization: auth } : {});
        expect(res.status, String(auth)).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
        const body = await res.text();
        expect(body).not.toContain("wrong-token-attempt-1");
        expect(body).not.toContain(TOKEN);
      }
      const client = await mcpClient(s.url, { authorization: `Bearer ${TOKEN}` });
      const { tools } = await client.listTools();
      expect(tools).toHaveLength(9);
      const me = (await client.callTool({ name: "get_current_user", arguments: {} })) as CallToolResult;
      expect(me.isError, text(me)).toBeFalsy();
      expect((me.structuredContent as { name: string }).name).toBe("Avery Quinn");
      await client.close();
      // The log line is written when the response has gone out.
      await until(() => jsonLines(s.stderr).some((l) => l.tool === "get_current_user"));
      const logs = jsonLines(s.stderr);
      expect(logs.filter((l) => l.status === 401)).toHaveLength(4);
      expect(logs.find((l) => l.tool === "get_current_user")).toMatchObject({
        method: "tools/call",
        status: 200,
        requestId: expect.any(String),
        time: expect.any(String),
        ms: expect.any(Number),
      });
      const all = s.stderr.join("");
      for (const secret of [TOKEN, "wrong-token-attempt-1", SANDBOX_CREDENTIALS.leadpingToken]) expect(all).not.toContain(secret);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it("answers 300 concurrent calls, each with its own right answer", { tags: ["slow"] }, async () => {
    const s = await startHttp(sandboxEnv(sandbox, { USERS_MCP_HTTP_TOKEN: TOKEN }));
    try {
      const client = await mcpClient(s.url, { authorization: `Bearer ${TOKEN}` });
      const users = ["0IHuJvc2ofPAAA8GzTRi", "aB3dE5gH7jK9mN1pQ3sT", "sAmL33sUbAcc0unt0001"];
      const results = await Promise.all(
        Array.from(
          { length: 300 },
          (_, i) => client.callTool({ name: "get_user", arguments: { userId: users[i % 3] } }) as Promise<CallToolResult>,
        ),
      );
      results.forEach((r, i) => {
        expect(r.isError, text(r)).toBeFalsy();
        expect((r.structuredContent as { id: string }).id).toBe(users[i % 3]);
      });
      await client.close();
    } finally {
      await s.stop();
    }
  });
});

describe("defences", () => {
  let s: Remote;
  beforeAll(async () => {
    s = await startHttp(
      sandboxEnv(sandbox, {
        USERS_MCP_HTTP_TOKEN: TOKEN,
        USERS_MCP_HTTP_ALLOWED_ORIGINS: "https://app.example.com",
        USERS_MCP_HTTP_MAX_IN_FLIGHT: "2",
        USERS_MCP_HTTP_HEADERS_TIMEOUT_MS: "500",
        USERS_MCP_TIMEOUT_MS: "5000",
      }),
    );
  });
  afterAll(() => s.stop());
  const auth = { authorization: `Bearer ${TOKEN}` };

  it("refuses a foreign Host or Origin with 403 before anything else; accepts listed and same-origin ones", async () => {
    const port = new URL(s.url).port;
    const raw = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        // fetch will not send a forged Host, so speak HTTP on a socket.
        const sock = connect(Number(port), "127.0.0.1", () => {
          const body = JSON.stringify(INIT);
          const lines = Object.entries({
            ...MCP_HEADERS,
            ...auth,
            "content-length": String(Buffer.byteLength(body)),
            connection: "close",
            ...headers,
          })
            .map(([k, v]) => `${k}: ${v}`)
            .join("\r\n");
          sock.end(`POST /mcp HTTP/1.1\r\n${lines}\r\n\r\n${body}`);
        });
        let data = "";
        sock.on("data", (d) => {
          data += d.toString();
        });
        sock.on("end", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1])));
        sock.on("error", reject);
      });
    expect(await raw({ host: "evil.example.com" })).toBe(403);
    expect(await raw({ host: `evil.example.com:${port}`, authorization: "none" })).toBe(403);
    expect(await raw({ host: `127.0.0.1:${port}`, origin: "https://evil.example.com" })).toBe(403);
    expect(await raw({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` })).toBe(200);
    expect(await raw({ host: `localhost:${port}`, origin: "https://app.example.com" })).toBe(200);
    expect(await raw({ host: `[::1]:${port}` })).toBe(200);
  });

  it("answers 413 to a body over 1 MiB without reading it all, and a JSON-RPC parse error to bad JSON; and keeps serving", async () => {
    const big = await post(s.url, JSON.stringify({ ...INIT, pad: "x".repeat(1024 * 1024 + 10) }), auth);
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { code: -32600, message: expect.stringMatching(/too large/) } });
    // Chunked, with no Content-Length: cut off once it passes the cap.
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 20; i++) c.enqueue(new TextEncoder().encode("x".repeat(128 * 1024)));
        c.close();
      },
    });
    const chunked = await fetch(s.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...auth },
      body: stream,
      duplex: "half",
    } as RequestInit).catch((e: Error) => e);
    if (!(chunked instanceof Error)) expect(chunked.status).toBe(413);
    const bad = await post(s.url, "{not json", auth);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ jsonrpc: "2.0", error: { code: -32700, message: expect.stringMatching(/^Parse error/) }, id: null });
    expect((await post(s.url, JSON.stringify(INIT), auth)).status).toBe(200);
  });

  it("answers 503 with Retry-After past the in-flight cap", async () => {
    sandbox.fault({ provider: "leadping", path: "/users/me", delayMs: 800, kind: "pass", times: 2 });
    const call = (id: number) =>
      post(s.url, JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "get_current_user", arguments: {} } }), {
        ...auth,
        "mcp-protocol-version": "2025-11-25",
      });
    const slow = [call(1), call(2)];
    await until(() => sandbox.requestsTo("leadping").length === 2);
    const over = await call(3);
    expect(over.status).toBe(503);
    expect(over.headers.get("retry-after")).toBe("1");
    for (const r of await Promise.all(slow)) expect(r.status).toBe(200);
    // The refused call was not run after its 503: only the two slow calls reached the upstream.
    expect(sandbox.requestsTo("leadping").length).toBe(2);
    expect((await call(4)).status).toBe(200);
  });

  it("closes a connection whose headers do not arrive in time; GET on /mcp is 405 (stateless); health endpoints answer", {
    tags: ["slow"],
  }, async () => {
    const port = Number(new URL(s.url).port);
    const closedAfter = await new Promise<number>((resolve) => {
      const started = Date.now();
      const sock = connect(port, "127.0.0.1", () => sock.write("POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n"));
      sock.on("data", () => {});
      sock.on("close", () => resolve(Date.now() - started));
    });
    expect(closedAfter).toBeLessThan(5_000);
    const get = await fetch(s.url, { headers: { ...auth, accept: "text/event-stream" } });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(await (await fetch(s.url.replace("/mcp", "/healthz"))).json()).toEqual({ status: "ok" });
    expect((await fetch(s.url.replace("/mcp", "/readyz"))).status).toBe(200);
    expect((await fetch(s.url.replace("/mcp", "/nope"))).status).toBe(404);
  });
});

describe("caller credentials (USERS_MCP_HTTP_CREDENTIALS=caller)", () => {
  const baseOnly = () => ({
    LEADPING_BASE_URL: sandbox.baseUrls.leadping,
    LEADCONNECTOR_BASE_URL: sandbox.baseUrls.leadconnector,
    TWOSMS_BASE_URL: sandbox.baseUrls.twosms,
    USERS_MCP_HTTP_CREDENTIALS: "caller",
    USERS_MCP_CONFIRM: "ask",
  });

  it("uses each caller's own credentials, keeps tenants apart under parallel writes, and names a missing header", async () => {
    const audit = join(mkdtempSync(join(tmpdir(), "users-mcp-http-")), "audit.jsonl");
    const s = await startHttp({ ...baseOnly(), USERS_MCP_AUDIT_LOG: audit });
    try {
      const a = await mcpClient(s.url, { "x-leadping-token": SANDBOX_CREDENTIALS.leadpingToken });
      const b = await mcpClient(s.url, { "x-leadping-token": SANDBOX_CREDENTIALS.leadpingLegacyToken });
      const statesA = ["CA", "NY", "FL", "WA"];
      const statesB = ["NV", "AZ", "UT", "CO"];
      const results = await Promise.all([
        ...statesA.map((st) => a.callTool({ name: "update_compliance", arguments: { compliance: { licensedStates: { add: [st] } } } })),
        ...statesB.map((st) => b.callTool({ name: "update_compliance", arguments: { compliance: { licensedStates: { add: [st] } } } })),
      ]);
      for (const r of results as CallToolResult[]) expect(r.isError, text(r)).toBeFalsy();
      const stored = (token: string) =>
        (sandbox.state.leadping.userFor(token)?.compliance as { licensedStates?: string[] } | undefined)?.licensedStates;
      expect(stored(SANDBOX_CREDENTIALS.leadpingToken)).toEqual(expect.arrayContaining(statesA));
      expect(stored(SANDBOX_CREDENTIALS.leadpingToken)).not.toEqual(expect.arrayContaining(["NV"]));
      expect(stored(SANDBOX_CREDENTIALS.leadpingLegacyToken)).toEqual(expect.arrayContaining(statesB));
      expect(stored(SANDBOX_CREDENTIALS.leadpingLegacyToken)).not.toEqual(expect.arrayContaining(["CA"]));
      // Every request reached the upstream with its own caller's token.
      for (const r of sandbox.requestsTo("leadping"))
        expect([`Bearer ${SANDBOX_CREDENTIALS.leadpingToken}`, `Bearer ${SANDBOX_CREDENTIALS.leadpingLegacyToken}`]).toContain(
          r.headers.authorization,
        );
      // One tenant's preview is no good for the other.
      const dry = (await a.callTool({
        name: "update_compliance",
        arguments: { compliance: { acceptedBaa: true }, dryRun: true },
      })) as CallToolResult;
      const stolen = (await b.callTool({
        name: "update_compliance",
        arguments: { compliance: { acceptedBaa: true }, previewToken: (dry.structuredContent as { previewToken: string }).previewToken },
      })) as CallToolResult;
      expect(text(stolen)).toMatch(/previewToken: issued for another record \(or another account's credentials\)/);
      // A host that declared no elicitation cannot be asked: under ask, a sensitive write goes ahead unconfirmed and says so.
      const withdraw = (await a.callTool({
        name: "update_compliance",
        arguments: { compliance: { acceptedSms: false } },
      })) as CallToolResult;
      expect(withdraw.structuredContent).toMatchObject({ applied: true, confirmation: "unavailable" });
      // Missing headers are named; nothing is sent.
      const lc = (await a.callTool({ name: "get_user", arguments: { userId: "0IHuJvc2ofPAAA8GzTRi" } })) as CallToolResult;
      expect(lc.isError).toBe(true);
      expect(text(lc)).toMatch(/no LeadConnector token: send it in the X-LeadConnector-Token header/);
      const gdpr = (await a.callTool({
        name: "get_gdpr_user",
        arguments: { userId: "c8e4ae5d-ebc0-4f08-a0a0-05399413bb43" },
      })) as CallToolResult;
      expect(text(gdpr)).toMatch(/X-TwoSMS-Client-Id and X-TwoSMS-Client-Secret \(or X-TwoSMS-Access-Token\)/);
      expect(sandbox.requestsTo("leadconnector")).toEqual([]);
      await a.close();
      await b.close();
      const tenants = new Set(
        readFileSync(audit, "utf8")
          .trim()
          .split("\n")
          .map((l) => (JSON.parse(l) as { tenant: string }).tenant),
      );
      expect(tenants.size).toBe(2);
      const all = s.stderr.join("") + readFileSync(audit, "utf8");
      for (const secret of [SANDBOX_CREDENTIALS.leadpingToken, SANDBOX_CREDENTIALS.leadpingLegacyToken]) expect(all).not.toContain(secret);
    } finally {
      await s.stop();
    }
  });

  it("2SMS callers each get their own token; with USERS_MCP_HTTP_TOKEN set it is required as well", async () => {
    const s = await startHttp({ ...baseOnly(), USERS_MCP_HTTP_TOKEN: TOKEN });
    try {
      const noToken = await post(s.url, JSON.stringify(INIT), { "x-leadping-token": SANDBOX_CREDENTIALS.leadpingToken });
      expect(noToken.status).toBe(401);
      const c = await mcpClient(s.url, {
        authorization: `Bearer ${TOKEN}`,
        "x-twosms-client-id": SANDBOX_CREDENTIALS.twosmsClientId,
        "x-twosms-client-secret": SANDBOX_CREDENTIALS.twosmsClientSecret,
      });
      for (let i = 0; i < 3; i++) {
        const r = (await c.callTool({
          name: "get_gdpr_user",
          arguments: { userId: "c8e4ae5d-ebc0-4f08-a0a0-05399413bb43" },
        })) as CallToolResult;
        expect(r.isError, text(r)).toBeFalsy();
      }
      // The token is fetched once and cached for this caller's credentials.
      expect(sandbox.requestsTo("twosms").filter((r) => r.path === "/Token")).toHaveLength(1);
      const wrong = await mcpClient(s.url, {
        authorization: `Bearer ${TOKEN}`,
        "x-twosms-client-id": SANDBOX_CREDENTIALS.twosmsClientId,
        "x-twosms-client-secret": "not-the-secret-at-all",
      });
      const refused = (await wrong.callTool({
        name: "get_gdpr_user",
        arguments: { userId: "c8e4ae5d-ebc0-4f08-a0a0-05399413bb43" },
      })) as CallToolResult;
      expect(refused.isError).toBe(true);
      expect(text(refused)).toMatch(/refused the client credentials/);
      expect(text(refused)).not.toContain("not-the-secret-at-all");
      await c.close();
      await wrong.close();
    } finally {
      await s.stop();
    }
  });
});

/** A GET with a Host of our choosing (fetch will not send a forged one): the status and the body. */
const getWithHost = (url: string, path: string, host: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const sock = connect(Number(new URL(url).port), "127.0.0.1", () =>
      sock.end(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`),
    );
    let data = "";
    sock.on("data", (d) => {
      data += d.toString();
    });
    sock.on("end", () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1]), body: data.split("\r\n\r\n")[1] ?? "" }));
    sock.on("error", reject);
  });

describe("readiness", () => {
  it("/healthz and /readyz answer only after the Host check (a rebinding page learns nothing)", async () => {
    const s = await startHttp(sandboxEnv(sandbox, { USERS_MCP_HTTP_TOKEN: TOKEN }));
    try {
      for (const path of ["/healthz", "/readyz"]) {
        const foreign = await getWithHost(s.url, path, "evil.example.com");
        expect(foreign.status, path).toBe(403);
        expect(foreign.body, path).toMatch(/this Host is not allowed/);
        expect((await getWithHost(s.url, path, "localhost")).status, path).toBe(200);
      }
    } finally {
      await s.stop();
    }
  });

  it("with a database it cannot reach, /readyz says 'degraded: database unreachable' and the driver's words go to the log only", async () => {
    const password = "db-password-never-shown-42";
    const s = await startHttp(
      sandboxEnv(sandbox, {
        USERS_MCP_HTTP_TOKEN: TOKEN,
        // Nothing listens on port 1: the driver says ECONNREFUSED, naming the address.
        USERS_MCP_DATABASE_URL: `postgres://users_mcp:${password}@127.0.0.1:1/users_mcp`,
      }),
    );
    try {
      const res = await fetch(s.url.replace("/mcp", "/readyz"));
      expect(res.status).toBe(200);
      const body = await res.text();
      expect(JSON.parse(body)).toEqual({ status: "degraded: database unreachable", writes: "refused until the database is back" });
      for (const driverText of ["ECONNREFUSED", "127.0.0.1:1", "connect", password]) expect(body).not.toContain(driverText);
      // Reading the write history needs the database: a refusal that says so, logged as a warning.
      const listed = await post(
        s.url,
        JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "list_writes", arguments: {} } }),
        { authorization: `Bearer ${TOKEN}`, "mcp-protocol-version": "2025-11-25" },
      );
      const result = ((await listed.json()) as { result: CallToolResult }).result;
      expect(result.isError).toBe(true);
      expect(text(result)).toMatch(/^Refused: the database \(USERS_MCP_DATABASE_URL\) cannot be reached/);
      expect(text(result)).not.toMatch(/bug/);
      const log = s.stderr.join("");
      expect(log).toMatch(/ECONNREFUSED/);
      expect(log).toMatch(/users-mcp warn: list_writes: refused/);
      expect(log).not.toMatch(/list_writes: internal error/);
      expect(log).not.toContain(password);
    } finally {
      await s.stop();
    }
  });

  it("/readyz is 503 when no provider has credentials, and 200 once one has", async () => {
    const bare = await startHttp({ USERS_MCP_HTTP_TOKEN: TOKEN });
    try {
      const res = await fetch(bare.url.replace("/mcp", "/readyz"));
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: "not configured: no provider has credentials" });
      expect((await fetch(bare.url.replace("/mcp", "/healthz"))).status).toBe(200);
    } finally {
      await bare.stop();
    }
    const configured = await startHttp({ USERS_MCP_HTTP_TOKEN: TOKEN, LEADPING_API_TOKEN: SANDBOX_CREDENTIALS.leadpingToken });
    try {
      expect((await fetch(configured.url.replace("/mcp", "/readyz"))).status).toBe(200);
    } finally {
      await configured.stop();
    }
  });
});

describe("drain", { tags: ["slow"] }, () => {
  it("on SIGTERM: /readyz turns 503, new calls get 503, the call under way finishes, and the process exits 0", async () => {
    const s = await startHttp(sandboxEnv(sandbox, { USERS_MCP_HTTP_TOKEN: TOKEN }));
    const auth = { authorization: `Bearer ${TOKEN}`, "mcp-protocol-version": "2025-11-25" };
    sandbox.fault({ provider: "leadping", path: "/users/me", delayMs: 1_000, kind: "pass" });
    const underway = post(
      s.url,
      JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "get_current_user", arguments: {} } }),
      auth,
    );
    await until(() => sandbox.requestsTo("leadping").length === 1);
    s.child.kill("SIGTERM");
    await until(() => s.stderr.join("").includes("draining (SIGTERM)"));
    expect((await fetch(s.url.replace("/mcp", "/readyz"))).status).toBe(503);
    expect((await post(s.url, JSON.stringify(INIT), auth)).status).toBe(503);
    const done = await underway;
    expect(done.status).toBe(200);
    const body = (await done.json()) as { result: CallToolResult };
    expect(body.result.isError).toBeFalsy();
    expect(await s.stop()).toBe(0);
  });
});

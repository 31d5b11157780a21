import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { runCli, SANDBOX_CREDENTIALS } from "./harness.js";
import { MCP_HEADERS, type Remote, startHttp } from "./http-harness.js";

// The security review's findings 1–4, reproduced against the built server in HTTP caller mode with
// two tenants and a real audit log file: nothing one caller sends can change what another reads,
// or what the audit log says.

let sandbox: Sandbox;
let dir: string;
let audit: string;
let s: Remote;

beforeAll(async () => {
  sandbox = await startSandbox({ leadpingRateLimit: 1_000_000, leadconnectorRateLimit: 1_000_000 });
  dir = mkdtempSync(join(tmpdir(), "users-mcp-hardening-"));
  audit = join(dir, "audit.jsonl");
  s = await startHttp({
    USERS_MCP_HTTP_CREDENTIALS: "caller",
    LEADPING_BASE_URL: sandbox.baseUrls.leadping,
    LEADCONNECTOR_BASE_URL: sandbox.baseUrls.leadconnector,
    TWOSMS_BASE_URL: sandbox.baseUrls.twosms,
    USERS_MCP_AUDIT_LOG: audit,
    USERS_MCP_CONFIRM: "off",
  });
});
afterAll(async () => {
  await s?.stop();
  await sandbox.close();
});
beforeEach(() => sandbox.reset());

/** Python's str.splitlines(): every character it treats as a line boundary ("\r\n" counts once). */
const PYTHON_BREAKS = new Set(["\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\u0085", "\u2028", "\u2029"]);
function splitlines(text: string): string[] {
  const out: string[] = [];
  let line = "";
  for (const c of text.replaceAll("\r\n", "\n")) {
    if (PYTHON_BREAKS.has(c)) {
      out.push(line);
      line = "";
    } else line += c;
  }
  if (line) out.push(line);
  return out.filter(Boolean);
}

let nextId = 1;
/** One stateless JSON-RPC call, as any HTTP client sends it. */
async function rpc(
  method: string,
  params: Record<string, unknown>,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const res = await fetch(s.url, {
    method: "POST",
    headers: { ...MCP_HEADERS, "mcp-protocol-version": "2025-11-25", ...headers },
    body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
  });
  return { status: res.status, body: await res.text() };
}

const tenantB = { "x-leadping-token": SANDBOX_CREDENTIALS.leadpingToken };
const auditText = () => {
  try {
    return readFileSync(audit, "utf8");
  } catch {
    return "";
  }
};

/** What tenant B sees and records: its read, its write's result, and the audit lines its write added. */
async function runTenantB(): Promise<{ read: string; write: string; lines: string[] }> {
  const before = auditText().length;
  const read = await rpc("tools/call", { name: "get_current_user", arguments: {} }, tenantB);
  const write = await rpc(
    "tools/call",
    { name: "update_compliance", arguments: { compliance: { licensedStates: { add: ["CA"] } } } },
    tenantB,
  );
  expect(read.status).toBe(200);
  expect(write.status).toBe(200);
  const lines = auditText().slice(before).split("\n").filter(Boolean);
  // Ids and times differ from run to run by nature; every other byte must not.
  const stable = (t: string) =>
    t
      .replace(/"(id|auditId)":"[0-9a-f-]{36}"/g, '"$1":"<id>"')
      .replace(/\\"auditId\\": ?\\"[0-9a-f-]{36}\\"/g, '\\"auditId\\":\\"<id>\\"')
      .replace(/"time":"[^"]+"/g, '"time":"<time>"')
      .replace(/"requestId":"sbx-[0-9a-z]+"/g, '"requestId":"<sandbox request>"');
  // The JSON-RPC id is the client's own counter: compare what the server answered with.
  const result = (body: string) => JSON.stringify((JSON.parse(body) as { result?: unknown; error?: unknown }).result ?? JSON.parse(body));
  return { read: result(read.body), write: stable(result(write.body)), lines: lines.map(stable) };
}

/** Tenant A: sends the given strings as its credentials, lists the tools and calls a read and a write. */
async function runTenantA(values: string[]): Promise<void> {
  const [lp = "", lc = "", secret = "", id = "client"] = values;
  const headers = {
    "x-leadping-token": lp,
    "x-leadconnector-token": lc,
    "x-twosms-client-id": id,
    "x-twosms-client-secret": secret,
  };
  await rpc("tools/list", {}, headers);
  await rpc("tools/call", { name: "get_current_user", arguments: {} }, headers);
  await rpc("tools/call", { name: "update_compliance", arguments: { compliance: { acceptedSms: true } } }, headers);
}

describe("one caller's credentials never reach another caller's results or the audit log", () => {
  it("the review's attack: names, JSON fragments as credentials; tenant B's results and audit are unchanged", async () => {
    const baseline = await runTenantB();
    expect(baseline.read).toContain("Avery Quinn");
    expect(baseline.lines).toHaveLength(2);
    sandbox.reset();

    const attack = await rpc(
      "tools/list",
      {},
      {
        "x-leadping-token": "Reyes",
        "x-leadconnector-token": '"phase":"intent"',
        "x-twosms-client-secret": '"outcome":"applied"',
      },
    );
    // Refused at the door, naming the header: not a credential, and never scrubbed out of anyone's text.
    expect(attack.status).toBe(400);
    expect(attack.body).toContain("X-Leadping-Token is 5 characters long, too short to be a credential");
    const longer = await rpc(
      "tools/call",
      { name: "get_current_user", arguments: {} },
      { "x-leadping-token": "Avery Quinn avery.quinn@example.com" },
    );
    expect(longer.status).toBe(400);
    expect(longer.body).toContain("X-Leadping-Token holds spaces");

    const after = await runTenantB();
    expect(after).toEqual(baseline);
    for (const line of auditText().trim().split("\n")) expect(() => JSON.parse(line)).not.toThrow();
    const report = await runCli(["audit", "--json"], { USERS_MCP_AUDIT_LOG: audit });
    expect(report.code).toBe(0);
    const entries = JSON.parse(report.stdout) as Array<{ tool: string; outcome: string }>;
    expect(entries.filter((e) => e.tool === "update_compliance" && e.outcome === "applied").length).toBeGreaterThanOrEqual(2);
  });

  it("property: for any credential strings tenant A sends, tenant B's results and audit lines are byte-identical to a run without A", {
    tags: ["slow"],
  }, async () => {
    const baseline = await runTenantB();
    const printable = fc.string({
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:"{}[],@+/='.split("")),
      minLength: 1,
      maxLength: 40,
    });
    const credential = fc.oneof(
      printable,
      fc.string({ unit: fc.constantFrom(..."0123456789".split("")), minLength: 1, maxLength: 8 }),
      fc.constantFrom(
        "Reyes",
        "Avery",
        "Quinn",
        "2026",
        "-11-",
        '"phase":"intent"',
        '"outcome":"applied"',
        '"tool":"update_compliance"',
        "avery.quinn@example.com",
        "usr_01HZX3SANDBOX",
        SANDBOX_CREDENTIALS.leadpingLegacyToken,
      ),
      fc.constant("x".repeat(3_500)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(credential, { minLength: 1, maxLength: 4 }), async (values) => {
        sandbox.reset();
        await runTenantA(values);
        sandbox.reset();
        expect(await runTenantB()).toEqual(baseline);
      }),
      { numRuns: 40 },
    );
  });

  it("an upstream error that echoes the caller's token reaches neither the result nor the audit log", async () => {
    const token = "caller-token-that-leaks-0123456789";
    // The stand-in answers as a careless upstream would: the credential in its error body.
    sandbox.fault({
      provider: "leadping",
      method: "GET",
      path: "/users/me",
      status: 401,
      body: { title: "Unauthorized", detail: `token ${token} is not valid` },
    });
    const read = await rpc("tools/call", { name: "get_current_user", arguments: {} }, { "x-leadping-token": token });
    expect(read.body).toContain("token [redacted] is not valid");
    expect(read.body).not.toContain(token);

    sandbox.fault({
      provider: "leadping",
      method: "PUT",
      path: "/users/compliance",
      status: 400,
      body: {
        title: "Bad Request",
        detail: `rejected for Bearer ${SANDBOX_CREDENTIALS.leadpingToken} and ${SANDBOX_CREDENTIALS.leadpingToken}`,
      },
    });
    const before = auditText().length;
    const write = await rpc("tools/call", { name: "update_compliance", arguments: { compliance: { acceptedSms: false } } }, tenantB);
    expect(write.body).not.toContain(SANDBOX_CREDENTIALS.leadpingToken);
    expect(write.body).toContain("[redacted]");
    const added = auditText().slice(before);
    expect(added).toContain('"outcome":"failed"');
    expect(added).not.toContain(SANDBOX_CREDENTIALS.leadpingToken);
    expect(added).toContain("[redacted]");
  });

  it("refuses implausible credential headers with 400 naming the header, before anything else", async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ "x-leadping-token": "abc" }, "X-Leadping-Token is 3 characters long"],
      [{ "x-leadconnector-token": "pit-1234" }, "X-LeadConnector-Token is 8 characters long"],
      [{ "x-twosms-client-secret": "a\tb-0123456789abcdef" }, "X-TwoSMS-Client-Secret holds spaces or control characters"],
      [{ "x-twosms-access-token": "y".repeat(9000) }, "X-TwoSMS-Access-Token is longer than 8192 characters"],
    ];
    for (const [headers, message] of cases) {
      const r = await rpc("tools/list", {}, headers);
      expect(r.status).toBe(400);
      expect(r.body).toContain(message);
    }
    expect(sandbox.requests).toEqual([]);
  });
});

describe("the audit log keeps its shape whatever the data", () => {
  it("escapes U+2028, U+2029 and U+0085 from upstream text, so every line reader sees one record a line", async () => {
    sandbox.fault({
      provider: "leadping",
      method: "PUT",
      path: "/users/compliance",
      status: 422,
      body: { title: "Unprocessable", detail: "line one\u2028line two\u2029three\u0085four" },
    });
    const before = auditText().length;
    await rpc("tools/call", { name: "update_compliance", arguments: { compliance: { acceptedSms: false } } }, tenantB);
    const added = auditText().slice(before);
    expect(added).not.toMatch(/[\u2028\u2029\u0085]/);
    expect(added).toContain("\\u2028");
    // Python's str.splitlines() splits on these too: the record count must not change.
    const pythonLines = splitlines(added);
    expect(pythonLines).toHaveLength(2);
    const outcome = JSON.parse(pythonLines[1] as string) as { error: string };
    expect(outcome.error).toContain("line one\u2028line two\u2029three\u0085four");
    expect(statSync(audit).mode & 0o777).toBe(0o600);
  });
});

describe("HTTP limits no sender can turn against other callers", { tags: ["slow"] }, () => {
  let r: Remote;
  beforeAll(async () => {
    r = await startHttp({
      LEADPING_BASE_URL: sandbox.baseUrls.leadping,
      LEADPING_API_TOKEN: SANDBOX_CREDENTIALS.leadpingToken,
      USERS_MCP_HTTP_TOKEN: "endpoint-token-0123456789abcdef",
      USERS_MCP_HTTP_MAX_IN_FLIGHT: "8",
      USERS_MCP_HTTP_HEADERS_TIMEOUT_MS: "2000",
      USERS_MCP_AUDIT_LOG: "off",
    });
  });
  afterAll(() => r?.stop());
  const auth = { authorization: "Bearer endpoint-token-0123456789abcdef" };
  const call = (body: unknown) =>
    fetch(r.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-protocol-version": "2025-11-25", ...auth },
      body: JSON.stringify(body),
    });

  it("slow senders hold a socket each, never an in-flight slot: a caller whose body arrives at once is answered", async () => {
    const { hostname: host, port } = new URL(r.url);
    const slow = await Promise.all(
      Array.from(
        { length: 64 },
        () =>
          new Promise<Socket>((resolve) => {
            const socket = connect(Number(port), host.replace(/^\[|\]$/g, ""), () => {
              socket.write(
                `POST /mcp HTTP/1.1\r\nHost: ${host}:${port}\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{"jsonrpc":`,
              );
              resolve(socket);
            });
            socket.on("error", () => {});
          }),
      ),
    );
    try {
      const res = await call({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get_current_user", arguments: {} } });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("Avery Quinn");
      // Each slow sender is answered 408 once its body's time is up, and the connection closed.
      const answered = await new Promise<string>((resolve) => {
        let got = "";
        (slow[0] as Socket).on("data", (d: Buffer) => {
          got += d.toString();
        });
        (slow[0] as Socket).on("close", () => resolve(got));
      });
      expect(answered).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      for (const sock of slow) sock.destroy();
    }
  });

  it("every message of a batch counts against the in-flight cap", async () => {
    const batch = Array.from({ length: 100 }, (_, i) => ({ jsonrpc: "2.0", id: i + 1, method: "ping" }));
    const res = await call(batch);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("This batch holds 100 messages, more than the 8 this server runs at once");
  });

  it("a 5 MB body gets its 413 with Connection: close, not a connection reset (three runs out of three)", async () => {
    const { hostname: host, port } = new URL(r.url);
    for (let run = 0; run < 3; run++) {
      const status = await new Promise<string>((resolve) => {
        let got = "";
        const socket = connect(Number(port), host.replace(/^\[|\]$/g, ""), () => {
          const body = Buffer.alloc(5 * 1024 * 1024, 0x61);
          socket.write(
            `POST /mcp HTTP/1.1\r\nHost: ${host}:${port}\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n`,
          );
          socket.write(body);
        });
        socket.on("data", (d: Buffer) => {
          got += d.toString();
        });
        socket.on("error", (e) => resolve(`error ${(e as NodeJS.ErrnoException).code} after ${JSON.stringify(got.slice(0, 40))}`));
        socket.on("close", () => resolve(got));
      });
      expect(status).toMatch(/^HTTP\/1\.1 413/);
      expect(status.toLowerCase()).toContain("connection: close");
    }
  });
});

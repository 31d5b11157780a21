import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client as ClientV2, StreamableHTTPClientTransport as HttpV2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioV2 } from "@modelcontextprotocol/client/stdio";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as StdioV1 } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport as HttpV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SANDBOX_TWOSMS_USER_ID } from "../src/sandbox/twosms.js";
import { isolatedEnv, SERVER } from "./harness.js";
import { MCP_HEADERS, MODERN_META, modernPost, type Remote, startHttp } from "./http-harness.js";

// MCP 2026-07-28 and 2025 side by side: the SDK's 1.x client (2025, `initialize`) and its 2.x client
// (2026-07-28 through `server/discover`), each over stdio and HTTP against the built server, and
// the confirmation of a sensitive write on each. Then the Multi Round-Trip confirmation on the wire.

type Answer = "accept" | "decline" | "cancel";
type AnyResult = { content?: Array<{ type: string; text?: string }>; structuredContent?: Record<string, unknown>; isError?: boolean };

const WITHDRAW = { name: "update_compliance", arguments: { compliance: { acceptedSms: false } } };
/** The confirmation lifetime of the "short" servers. */
const SHORT_CONFIRM_MS = 300;
/**
 * Resolves once a state issued before `issuedBy` (a time taken after the question came back) has outlived
 * its lifetime: the clock is the condition, so this waits for what is left of the lifetime, no more.
 */
const outlived = (issuedBy: number, lifetimeMs: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, issuedBy + lifetimeMs + 1 - Date.now())));
const auditDir = () => mkdtempSync(join(tmpdir(), "users-mcp-2026-"));
const serverEnv = (audit: string, extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? "",
  ...isolatedEnv(),
  USERS_MCP_AUDIT_LOG: audit,
  ...extra,
});
const auditLines = (path: string) =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function v2Client(answer: Answer, asked: string[]): ClientV2 {
  const client = new ClientV2(
    { name: "v2-tests", version: "2.4.0" },
    { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: "auto" } },
  );
  client.setRequestHandler("elicitation/create", async (request) => {
    asked.push((request.params as { message: string }).message);
    return answer === "accept" ? { action: "accept", content: { confirm: true } } : { action: answer };
  });
  return client;
}

function v1Client(answer: Answer, asked: string[]): ClientV1 {
  const client = new ClientV1({ name: "v1-tests", version: "1.32.2" }, { capabilities: { elicitation: { form: {} } } });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    asked.push(request.params.message);
    return answer === "accept" ? { action: "accept", content: { confirm: true } } : { action: answer };
  });
  return client;
}

describe.each(["stdio", "http"] as const)("both protocol generations over %s", (transport) => {
  let remote: Remote | undefined;
  let audit: string;
  beforeAll(async () => {
    audit = join(auditDir(), "audit.jsonl");
    if (transport === "http") remote = await startHttp(serverEnv(audit), ["--sandbox"]);
  });
  afterAll(async () => {
    await remote?.stop();
  });

  const stdioParams = () => ({ command: process.execPath, args: [SERVER, "--sandbox"], env: serverEnv(audit), stderr: "ignore" as const });

  it("the 2.x client negotiates 2026-07-28 (server/discover): lists, calls, and a person confirms through a round trip", async () => {
    const asked: string[] = [];
    const client = v2Client("accept", asked);
    await client.connect(transport === "stdio" ? new StdioV2(stdioParams()) : new HttpV2(new URL(remote?.url as string)));
    try {
      expect(client.getProtocolEra()).toBe("modern");
      expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28");
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual([
        "get_current_user",
        "update_compliance",
        "search_users",
        "get_user",
        "update_user",
        "get_gdpr_user",
        "update_gdpr",
        "list_writes",
        "revert_write",
      ]);
      expect(tools.every((t) => typeof t.title === "string" && t.title.length > 0)).toBe(true);
      // An unknown tool is a protocol error (JSON-RPC -32602) that names the tools there are.
      await expect(client.callTool({ name: "no_such_tool", arguments: {} })).rejects.toMatchObject({
        code: -32602,
        message: expect.stringMatching(/Unknown tool "no_such_tool"\. Available tools: get_current_user, update_compliance, /),
      });
      const me = (await client.callTool({ name: "get_current_user", arguments: {} })) as AnyResult;
      expect(me.isError).toBeFalsy();
      const written = (await client.callTool(WITHDRAW)) as AnyResult;
      expect(written.isError).toBeFalsy();
      expect(written.structuredContent).toMatchObject({ applied: true, confirmation: "accepted" });
      expect(asked).toEqual(["Withdraw SMS consent for Avery Quinn on Leadping?\nacceptedSms: true → false"]);
      await client.callTool({ name: "update_compliance", arguments: { compliance: { acceptedSms: true } } });
    } finally {
      await client.close();
    }
  });

  it("the 1.x client speaks 2025-11-25 (initialize) as before", async () => {
    const asked: string[] = [];
    const client = v1Client("accept", asked);
    const wire = transport === "stdio" ? new StdioV1(stdioParams()) : new HttpV1(new URL(remote?.url as string));
    // The 1.x client hands the version the server's initialize answered with to its transport.
    let negotiated: string | undefined;
    const hand = (wire as { setProtocolVersion?: (v: string) => void }).setProtocolVersion?.bind(wire);
    Object.assign(wire, {
      setProtocolVersion: (v: string) => {
        negotiated = v;
        hand?.(v);
      },
    });
    await client.connect(wire);
    try {
      expect(negotiated).toBe("2025-11-25");
      expect((await client.listTools()).tools).toHaveLength(9);
      const written = (await client.callTool(WITHDRAW)) as AnyResult;
      expect(written.isError).toBeFalsy();
      // Asked during the call: over stdio on the connection, over HTTP on the event stream of the call's POST.
      expect(written.structuredContent).toMatchObject({ applied: true, confirmation: "accepted" });
      expect(asked).toHaveLength(1);
      await client.callTool({ name: "update_compliance", arguments: { compliance: { acceptedSms: true } } });
    } finally {
      await client.close();
    }
  });

  it.each(["decline", "cancel"] as const)("a 2026-07-28 person who answers %s leaves the record alone, on the record", async (answer) => {
    const asked: string[] = [];
    const client = v2Client(answer, asked);
    await client.connect(transport === "stdio" ? new StdioV2(stdioParams()) : new HttpV2(new URL(remote?.url as string)));
    try {
      const result = (await client.callTool(WITHDRAW)) as AnyResult;
      expect(result.structuredContent).toMatchObject({
        applied: false,
        confirmation: answer === "decline" ? "declined" : "cancelled",
      });
      expect(asked).toHaveLength(1);
      const last = auditLines(audit).at(-1);
      expect(last).toMatchObject({ outcome: "declined", confirmation: answer === "decline" ? "declined" : "cancelled" });
      const read = (await client.callTool({ name: "get_current_user", arguments: {} })) as AnyResult;
      expect(JSON.stringify(read.structuredContent)).toContain('"acceptedSms":true');
    } finally {
      await client.close();
    }
  });
});

const accept = { confirm: { action: "accept", content: { confirm: true } } };
const gdpr = (email: string) => ({ name: "update_gdpr", arguments: { userId: SANDBOX_TWOSMS_USER_ID, emailAddress: email } });
const textOf = (r: Record<string, unknown> | undefined) => ((r?.content as Array<{ text: string }> | undefined)?.[0]?.text ?? "") as string;

describe("confirmation through Multi Round-Trip Requests, on the wire", () => {
  let remote: Remote;
  let other: Remote;
  let short: Remote;
  let audit: string;
  const upstreamWrites = () => (existsSync(audit) ? auditLines(audit).filter((l) => l.phase === "intent").length : 0);

  beforeAll(async () => {
    audit = join(auditDir(), "audit.jsonl");
    [remote, other, short] = await Promise.all([
      startHttp(serverEnv(audit, { USERS_MCP_HTTP_MAX_IN_FLIGHT: "16" }), ["--sandbox"]),
      startHttp(serverEnv(join(auditDir(), "audit.jsonl")), ["--sandbox"]),
      startHttp(serverEnv(join(auditDir(), "audit.jsonl"), { USERS_MCP_CONFIRM_TIMEOUT_MS: String(SHORT_CONFIRM_MS) }), ["--sandbox"]),
    ]);
  });
  afterAll(async () => {
    await Promise.all([remote.stop(), other.stop(), short.stop()]);
  });

  async function ask(server: Remote, call = gdpr("first@example.org")) {
    const first = await modernPost(server.url, "tools/call", call);
    expect(first.status).toBe(200);
    expect(first.body.result).toMatchObject({ resultType: "input_required" });
    const requests = first.body.result?.inputRequests as Record<string, { method: string; params: { message: string } }> | undefined;
    const request = requests?.confirm;
    expect(request?.method).toBe("elicitation/create");
    return { state: first.body.result?.requestState as string, message: request?.params.message ?? "" };
  }

  it("discover answers with 2026-07-28, the server's capabilities, and cache fields; tools/list is cacheable and in a fixed order", async () => {
    const discover = await modernPost(remote.url, "server/discover", {});
    expect(discover.body.result).toMatchObject({ supportedVersions: ["2026-07-28"], resultType: "complete", capabilities: { tools: {} } });
    expect(typeof discover.body.result?.ttlMs).toBe("number");
    const a = await modernPost(remote.url, "tools/list", {});
    const b = await modernPost(remote.url, "tools/list", {});
    expect(a.body.result).toMatchObject({ resultType: "complete", ttlMs: 300_000, cacheScope: "public" });
    expect(JSON.stringify(a.body.result?.tools)).toBe(JSON.stringify(b.body.result?.tools));
  });

  it("headers that disagree with the body are refused with the spec's errors, and the server keeps serving", async () => {
    const missing = await fetch(remote.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-protocol-version": "2026-07-28" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/list",
        params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} } },
      }),
    });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { code: number } }).error.code).toBe(-32020);
    const wrongName = await modernPost(
      remote.url,
      "tools/call",
      { name: "get_current_user", arguments: {} },
      { "mcp-name": "update_user" },
    );
    expect(wrongName.status).toBe(400);
    expect(wrongName.body.error?.code).toBe(-32020);
    // The header names another version than the body: a mismatch (-32020).
    const mismatch = await modernPost(remote.url, "tools/list", {}, { "mcp-protocol-version": "2099-01-01" });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error?.code).toBe(-32020);
    // Both name a version this server does not speak: unsupported (-32022), with the versions it does.
    const future = await fetch(remote.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-protocol-version": "2099-01-01", "mcp-method": "tools/list" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/list",
        params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {} } },
      }),
    });
    expect(future.status).toBe(400);
    expect(await future.json()).toMatchObject({ error: { code: -32022, data: { supported: ["2026-07-28"] } } });
    expect((await modernPost(remote.url, "tools/list", {})).status).toBe(200);
  });

  it("accept writes exactly once; the same state again writes nothing", async () => {
    const before = upstreamWrites();
    const { state, message } = await ask(remote, gdpr("once@example.org"));
    expect(message).toMatch(/^Change emailAddress for Priya Shah on 2SMS\?/);
    const done = await modernPost(remote.url, "tools/call", { ...gdpr("once@example.org"), inputResponses: accept, requestState: state });
    expect(done.body.result?.structuredContent).toMatchObject({ applied: true, confirmation: "accepted" });
    expect(upstreamWrites()).toBe(before + 1);
    const replay = await modernPost(remote.url, "tools/call", { ...gdpr("once@example.org"), inputResponses: accept, requestState: state });
    expect(replay.body.result?.isError).toBe(true);
    expect(textOf(replay.body.result)).toMatch(/answer was used already.*Nothing was written again/);
    expect(upstreamWrites()).toBe(before + 1);
  });

  it("a tampered, foreign, expired or misapplied state is refused, saying why, and nothing is written", async () => {
    const before = upstreamWrites();
    const { state } = await ask(remote, gdpr("tamper@example.org"));
    const flipped = `${state.slice(0, -6)}${state.slice(-6, -5) === "A" ? "B" : "A"}${state.slice(-5)}`;
    const tampered = await modernPost(remote.url, "tools/call", {
      ...gdpr("tamper@example.org"),
      inputResponses: accept,
      requestState: flipped,
    });
    expect(textOf(tampered.body.result)).toMatch(/does not open under this server's key.*USERS_MCP_PREVIEW_KEY/);
    const garbage = await modernPost(remote.url, "tools/call", {
      ...gdpr("tamper@example.org"),
      inputResponses: accept,
      requestState: "hello",
    });
    expect(textOf(garbage.body.result)).toMatch(/not one this server issued/);
    // Another server (its own random key) cannot open this one's state.
    const foreign = await modernPost(other.url, "tools/call", {
      ...gdpr("tamper@example.org"),
      inputResponses: accept,
      requestState: state,
    });
    expect(textOf(foreign.body.result)).toMatch(/does not open under this server's key/);
    // The state of one change does not carry another.
    const misapplied = await modernPost(remote.url, "tools/call", {
      ...gdpr("other@example.org"),
      inputResponses: accept,
      requestState: state,
    });
    expect(textOf(misapplied.body.result)).toMatch(/issued for a different call/);
    expect(upstreamWrites()).toBe(before);
    // An answer after USERS_MCP_CONFIRM_TIMEOUT_MS is too late.
    const late = await ask(short, gdpr("late@example.org"));
    await outlived(Date.now(), SHORT_CONFIRM_MS);
    const expired = await modernPost(short.url, "tools/call", {
      ...gdpr("late@example.org"),
      inputResponses: accept,
      requestState: late.state,
    });
    expect(expired.body.result?.isError).toBe(true);
    expect(textOf(expired.body.result)).toMatch(/came too late.*Nothing was written/);
  });

  it("a record that moved while the person was asked is a Conflict, on the record", async () => {
    const { state } = await ask(remote, gdpr("moved@example.org"));
    // Meanwhile a 2025 client over HTTP changes the same field, its person accepting on its call's stream.
    const legacy = v1Client("accept", []);
    await legacy.connect(new HttpV1(new URL(remote.url)));
    const meanwhile = (await legacy.callTool(gdpr("meanwhile@example.org"))) as AnyResult;
    expect(meanwhile.structuredContent).toMatchObject({ applied: true });
    await legacy.close();
    const before = upstreamWrites();
    const retry = await modernPost(remote.url, "tools/call", { ...gdpr("moved@example.org"), inputResponses: accept, requestState: state });
    expect(retry.body.result?.isError).toBe(true);
    expect(textOf(retry.body.result)).toMatch(/^Conflict: the record changed while the person was being asked/);
    expect(textOf(retry.body.result)).toMatch(/- emailAddress: "[^"]+" when asked, "meanwhile@example\.org" now/);
    expect(upstreamWrites()).toBe(before);
    expect(auditLines(audit).at(-1)).toMatchObject({ outcome: "conflict", tool: "update_gdpr" });
  });

  it("a retry without an answer is asked again; declined and cancelled are recorded and write nothing", async () => {
    const before = upstreamWrites();
    const { state } = await ask(remote, gdpr("quiet@example.org"));
    const again = await modernPost(remote.url, "tools/call", { ...gdpr("quiet@example.org"), requestState: state });
    expect(again.body.result).toMatchObject({ resultType: "input_required" });
    for (const action of ["decline", "cancel"] as const) {
      const asked = await ask(remote, gdpr("quiet@example.org"));
      const answered = await modernPost(remote.url, "tools/call", {
        ...gdpr("quiet@example.org"),
        inputResponses: { confirm: { action } },
        requestState: asked.state,
      });
      expect(answered.body.result?.structuredContent).toMatchObject({
        applied: false,
        confirmation: action === "decline" ? "declined" : "cancelled",
      });
      expect(auditLines(audit).at(-1)).toMatchObject({ outcome: "declined" });
    }
    expect(upstreamWrites()).toBe(before);
  });

  it("subscriptions/listen is acknowledged (no notifications), completed at once, and takes no in-flight slot", async () => {
    const controllers = Array.from({ length: 200 }, () => new AbortController());
    const streams = await Promise.all(
      controllers.map((c) =>
        fetch(remote.url, {
          method: "POST",
          signal: c.signal,
          headers: { ...MCP_HEADERS, "mcp-protocol-version": "2026-07-28", "mcp-method": "subscriptions/listen" },
          body: JSON.stringify({
            jsonrpc: "2.0",
            id: 7,
            method: "subscriptions/listen",
            params: {
              notifications: { toolsListChanged: true },
              _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} },
            },
          }),
        }),
      ),
    );
    expect(streams.every((s) => s.status === 200 && /text\/event-stream/.test(s.headers.get("content-type") ?? ""))).toBe(true);
    // What the wire carries: the acknowledgement, naming no notifications (the tool list never changes),
    // then the request's result, and the end of the stream. Nothing is held open.
    const messages = (await streams[0]?.text())
      ?.split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => JSON.parse(l.slice(6)) as { method?: string; params?: { notifications?: unknown }; result?: { resultType?: string } });
    expect(messages?.map((m) => m.method ?? m.result?.resultType)).toEqual(["notifications/subscriptions/acknowledged", "complete"]);
    expect(messages?.[0]?.params?.notifications).toEqual({});
    // 200 idle listeners on a server that runs at most 16 calls at once: calls are still served.
    const calls = await Promise.all(
      Array.from({ length: 8 }, () => modernPost(remote.url, "tools/call", { name: "get_current_user", arguments: {} })),
    );
    expect(calls.every((c) => c.status === 200 && !c.body.result?.isError)).toBe(true);
    for (const c of controllers) c.abort();
  });
});

/** The built server over stdio, spoken to line by line in MCP 2026-07-28, as a 2026 host does. */
class RawStdio {
  private readonly child: ChildProcess;
  private buffer = "";
  private readonly waiting = new Map<number, (message: { result?: Record<string, unknown>; error?: unknown }) => void>();
  private nextId = 1;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, [SERVER, "--sandbox"], { env, stdio: ["pipe", "pipe", "ignore"] });
    this.child.stdout?.on("data", (d: Buffer) => {
      this.buffer += d.toString();
      let nl = this.buffer.indexOf("\n");
      while (nl >= 0) {
        const message = JSON.parse(this.buffer.slice(0, nl)) as { id?: number };
        this.buffer = this.buffer.slice(nl + 1);
        if (typeof message.id === "number") this.waiting.get(message.id)?.(message as { result?: Record<string, unknown> });
        nl = this.buffer.indexOf("\n");
      }
    });
  }

  request(method: string, params: Record<string, unknown>): Promise<{ result?: Record<string, unknown>; error?: unknown }> {
    const id = this.nextId++;
    const answered = new Promise<{ result?: Record<string, unknown>; error?: unknown }>((resolve) => this.waiting.set(id, resolve));
    this.child.stdin?.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, _meta: MODERN_META } })}\n`);
    return answered;
  }

  close(): void {
    this.child.stdin?.end();
  }
}

describe("confirmation through Multi Round-Trip Requests over stdio, on the wire", () => {
  let audit: string;
  let main: RawStdio;
  let other: RawStdio;
  let short: RawStdio;
  const intents = () => (existsSync(audit) ? auditLines(audit).filter((l) => l.phase === "intent").length : 0);

  beforeAll(async () => {
    audit = join(auditDir(), "audit.jsonl");
    main = new RawStdio(serverEnv(audit));
    other = new RawStdio(serverEnv(join(auditDir(), "audit.jsonl")));
    short = new RawStdio(serverEnv(join(auditDir(), "audit.jsonl"), { USERS_MCP_CONFIRM_TIMEOUT_MS: String(SHORT_CONFIRM_MS) }));
    for (const s of [main, other, short])
      expect((await s.request("server/discover", {})).result).toMatchObject({ supportedVersions: ["2026-07-28"] });
  });
  afterAll(() => {
    for (const s of [main, other, short]) s.close();
  });

  async function ask(server: RawStdio, call: ReturnType<typeof gdpr>) {
    const first = await server.request("tools/call", call);
    expect(first.result).toMatchObject({ resultType: "input_required" });
    return first.result?.requestState as string;
  }
  const answer = (server: RawStdio, call: ReturnType<typeof gdpr>, state: string, responses: Record<string, unknown> = accept) =>
    server.request("tools/call", { ...call, inputResponses: responses, requestState: state });

  it("accept writes once, a replay writes nothing, decline writes nothing", async () => {
    const before = intents();
    const state = await ask(main, gdpr("stdio-once@example.org"));
    expect((await answer(main, gdpr("stdio-once@example.org"), state)).result?.structuredContent).toMatchObject({
      applied: true,
      confirmation: "accepted",
    });
    const replay = await answer(main, gdpr("stdio-once@example.org"), state);
    expect(textOf(replay.result)).toMatch(/answer was used already/);
    const declined = await answer(main, gdpr("stdio-no@example.org"), await ask(main, gdpr("stdio-no@example.org")), {
      confirm: { action: "decline" },
    });
    expect(declined.result?.structuredContent).toMatchObject({ applied: false, confirmation: "declined" });
    expect(intents()).toBe(before + 1);
  });

  it("tampered, foreign, expired and misapplied states are refused; a moved record is a Conflict", async () => {
    const before = intents();
    const state = await ask(main, gdpr("stdio-moved@example.org"));
    const flipped = `${state.slice(0, -3)}${state.slice(-3, -2) === "A" ? "B" : "A"}${state.slice(-2)}`;
    expect(textOf((await answer(main, gdpr("stdio-moved@example.org"), flipped)).result)).toMatch(/does not open under this server's key/);
    expect(textOf((await answer(other, gdpr("stdio-moved@example.org"), state)).result)).toMatch(/does not open under this server's key/);
    expect(textOf((await answer(main, gdpr("stdio-else@example.org"), state)).result)).toMatch(/issued for a different call/);
    const late = await ask(short, gdpr("stdio-late@example.org"));
    await outlived(Date.now(), SHORT_CONFIRM_MS);
    expect(textOf((await answer(short, gdpr("stdio-late@example.org"), late)).result)).toMatch(/came too late/);
    expect(intents()).toBe(before);
    // Meanwhile another confirmed change moves the same field; the first answer then meets a moved record.
    const meanwhile = await ask(main, gdpr("stdio-meanwhile@example.org"));
    expect((await answer(main, gdpr("stdio-meanwhile@example.org"), meanwhile)).result?.structuredContent).toMatchObject({ applied: true });
    const moved = await answer(main, gdpr("stdio-moved@example.org"), state);
    expect(textOf(moved.result)).toMatch(/^Conflict: the record changed while the person was being asked/);
    expect(intents()).toBe(before + 1);
  });
});

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type CallToolResult, type ElicitRequest, ElicitRequestSchema, type ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { SANDBOX_CREDENTIALS, sandboxEnv } from "./harness.js";
import { MCP_HEADERS, post, type Remote, startHttp, TOKEN, text } from "./http-harness.js";

// Remote mode with its default USERS_MCP_CONFIRM=require: a sensitive write from a host that cannot ask
// is refused, naming the true reason; a 2025 host that declared form elicitation (the SDK's 1.x client)
// is asked on the event stream of its own call, and its answer POSTed back counts once.

const WITHDRAW = { name: "update_compliance", arguments: { compliance: { acceptedSms: false } } };
const AUTH = { authorization: `Bearer ${TOKEN}` };

let sandbox: Sandbox;
let audit: string;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(() => sandbox.close());
beforeEach(() => {
  sandbox.reset();
  audit = join(mkdtempSync(join(tmpdir(), "users-mcp-confirm-http-")), "audit.jsonl");
});

const upstreamWrites = () => sandbox.requests.filter((r) => (r.method === "PUT" || r.method === "POST") && r.path !== "/Token").length;
const auditLines = () =>
  readFileSync(audit, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const out = (r: CallToolResult) => r.structuredContent as Record<string, unknown>;

async function server(env: Record<string, string> = {}): Promise<Remote> {
  return startHttp(sandboxEnv(sandbox, { USERS_MCP_HTTP_TOKEN: TOKEN, USERS_MCP_AUDIT_LOG: audit, ...env }));
}

/** The SDK's 1.x client (MCP 2025) over Streamable HTTP, declaring `capabilities`, answering questions with `answer`. */
async function client2025(
  url: string,
  capabilities: Record<string, unknown>,
  answer?: (params: ElicitRequest["params"], id: string | number) => ElicitResult | Promise<ElicitResult>,
  headers: Record<string, string> = AUTH,
): Promise<Client> {
  const c = new Client({ name: "sdk-1x-host", version: "1.32.2" }, { capabilities });
  if (answer) c.setRequestHandler(ElicitRequestSchema, (request, extra) => answer(request.params, extra.requestId));
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return c;
}

/** A tool call from an MCP 2026-07-28 client that declares `capabilities`, on the wire. */
async function call2026(url: string, capabilities: Record<string, unknown>) {
  const res = await fetch(url, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...AUTH, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": WITHDRAW.name },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: {
        ...WITHDRAW,
        _meta: {
          "io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientInfo": { name: "raw-2026", version: "1" },
          "io.modelcontextprotocol/clientCapabilities": capabilities,
        },
      },
    }),
  });
  return ((await res.json()) as { result: CallToolResult }).result;
}

/** Posts a host's answer to a question of the server's, as a client would. */
const answerPost = (url: string, id: unknown, result: ElicitResult, headers: Record<string, string> = AUTH) =>
  post(url, JSON.stringify({ jsonrpc: "2.0", id, result }), { ...headers, "mcp-protocol-version": "2025-11-25" });

const NO_ASK = [
  ["a 2026-07-28 client declaring no elicitation", "it did not declare elicitation"],
  ["a 2025 client without elicitation", "it did not declare elicitation"],
  ["a 2025 client with only URL elicitation", "it declared only URL elicitation"],
] as const;

async function noAskCall(url: string, which: number): Promise<CallToolResult> {
  if (which === 0) return call2026(url, {});
  const c = await client2025(url, which === 1 ? {} : { elicitation: { url: {} } });
  try {
    return (await c.callTool(WITHDRAW)) as CallToolResult;
  } finally {
    await c.close();
  }
}

// Each test starts a server and several clients: on a loaded machine that alone can take most of the default 20 s.
describe("--http with default settings: a host that cannot ask is refused a sensitive write", { timeout: 60_000 }, () => {
  it("refuses each no-ask case naming the true reason, writes nothing, and records it as declined (unavailable)", async () => {
    const s = await server();
    try {
      for (const [i, [name, reason]] of NO_ASK.entries()) {
        const r = await noAskCall(s.url, i);
        expect(r.isError, name).toBe(true);
        expect(text(r), name).toContain(`this MCP host cannot ask one: ${reason}`);
        expect(text(r), name).toMatch(/Withdraw SMS consent.*Nothing was written.*administrator .*USERS_MCP_CONFIRM=ask/s);
      }
      expect(upstreamWrites()).toBe(0);
      expect(auditLines().map((l) => [l.outcome, l.confirmation])).toEqual(Array(3).fill(["declined", "unavailable"]));
      // A harmless change needs nobody.
      const c = await client2025(s.url, {});
      const harmless = (await c.callTool({
        name: "update_compliance",
        arguments: { compliance: { acceptedBaa: true } },
      })) as CallToolResult;
      expect(out(harmless)).toMatchObject({ applied: true, confirmation: "not_asked" });
      await c.close();
    } finally {
      await s.stop();
    }
  });

  it("USERS_MCP_CONFIRM=ask: the same calls apply, with the warning naming the reason", async () => {
    const s = await server({ USERS_MCP_CONFIRM: "ask" });
    try {
      for (const [i, [name, reason]] of NO_ASK.entries()) {
        sandbox.reset();
        const r = await noAskCall(s.url, i);
        expect(r.isError, `${name}: ${text(r)}`).toBeFalsy();
        expect(out(r)).toMatchObject({ applied: true, confirmation: "unavailable" });
        expect((out(r).warnings as string[]).join(" "), name).toContain(
          `No person confirmed this change: the MCP host cannot ask (${reason}`,
        );
        expect(upstreamWrites(), name).toBe(1);
      }
    } finally {
      await s.stop();
    }
  });
});

describe("--http, an MCP 2025 client (SDK 1.32.2) that declares form elicitation", { timeout: 60_000 }, () => {
  it("is asked on its call's stream: accept writes once; decline writes nothing; a replayed or forged answer is refused", async () => {
    const s = await server();
    try {
      const asked: Array<{ params: ElicitRequest["params"]; id: string | number }> = [];
      let reply: ElicitResult = { action: "accept", content: { confirm: true } };
      const c = await client2025(s.url, { elicitation: { form: {} } }, (params, id) => {
        asked.push({ params, id });
        return reply;
      });
      const accepted = (await c.callTool(WITHDRAW)) as CallToolResult;
      expect(accepted.isError, text(accepted)).toBeFalsy();
      expect(out(accepted)).toMatchObject({ applied: true, confirmation: "accepted" });
      expect(asked).toHaveLength(1);
      // The question names the record and the change.
      expect(asked[0]?.params.message).toBe("Withdraw SMS consent for Avery Quinn on Leadping?\nacceptedSms: true → false");
      expect(asked[0]?.params).toMatchObject({ mode: "form", requestedSchema: { properties: { confirm: { type: "boolean" } } } });
      // The server's request id is unguessable (sealed, not a counter).
      expect(String(asked[0]?.id)).toMatch(/^cs2\.[\w-]{60,}$/);
      expect(upstreamWrites()).toBe(1);

      // The same answer again: refused, nothing changes.
      const replay = await answerPost(s.url, asked[0]?.id, { action: "accept", content: { confirm: true } });
      expect(replay.status).toBe(400);
      expect(((await replay.json()) as { error: { message: string } }).error.message).toMatch(/answered already.*Nothing was changed/);
      // An id this server never issued: refused.
      for (const forged of ["cs2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0, 1, "1"]) {
        const r = await answerPost(s.url, forged, { action: "accept", content: { confirm: true } });
        expect(r.status, String(forged)).toBe(400);
        expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/unknown or expired id/);
      }
      expect(upstreamWrites()).toBe(1);

      // Put back, then decline: nothing is written.
      sandbox.reset();
      reply = { action: "decline" };
      const revert = (await c.callTool({ name: "update_compliance", arguments: { compliance: { acceptedSms: false } } })) as CallToolResult;
      expect(out(revert)).toMatchObject({ applied: false, confirmation: "declined" });
      expect(out(revert).message).toMatch(/was declined/);
      expect(upstreamWrites()).toBe(0);
      await c.close();
      expect(
        auditLines()
          .filter((l) => l.phase === "outcome")
          .map((l) => [l.outcome, l.confirmation]),
      ).toEqual([
        ["applied", "accepted"],
        ["declined", "declined"],
      ]);
    } finally {
      await s.stop();
    }
  });

  it("no answer within USERS_MCP_CONFIRM_TIMEOUT_MS: nothing is written, and the wait holds no in-flight slot", {
    tags: ["slow"],
  }, async () => {
    const s = await server({ USERS_MCP_CONFIRM_TIMEOUT_MS: "1500", USERS_MCP_HTTP_MAX_IN_FLIGHT: "1" });
    try {
      let asked = 0;
      const c = await client2025(s.url, { elicitation: {} }, () => {
        asked += 1;
        return new Promise<ElicitResult>(() => {}); // the person never answers
      });
      const waiting = c.callTool(WITHDRAW) as Promise<CallToolResult>;
      // While the person decides, another host is served even with one slot.
      while (asked === 0) await new Promise((r) => setTimeout(r, 20));
      const other = await client2025(s.url, {});
      const read = (await other.callTool({ name: "get_current_user", arguments: {} })) as CallToolResult;
      expect(read.isError, text(read)).toBeFalsy();
      const r = await waiting;
      expect(out(r)).toMatchObject({ applied: false, confirmation: "timeout" });
      expect(out(r).message).toMatch(/nobody answered the question asking to confirm this change within 2 s/);
      expect(upstreamWrites()).toBe(0);
      await c.close();
      await other.close();
    } finally {
      await s.stop();
    }
  });

  it("caller credentials: an answer sent with another tenant's credentials is refused and counts for nothing", async () => {
    const s = await startHttp(
      sandboxEnv(sandbox, {
        USERS_MCP_HTTP_CREDENTIALS: "caller",
        USERS_MCP_HTTP_TOKEN: TOKEN,
        USERS_MCP_AUDIT_LOG: audit,
        LEADPING_API_TOKEN: undefined,
        USERS_MCP_CONFIRM_TIMEOUT_MS: "3000",
      }),
    );
    try {
      const tenantA = { ...AUTH, "x-leadping-token": SANDBOX_CREDENTIALS.leadpingToken };
      const tenantB = { ...AUTH, "x-leadping-token": `${SANDBOX_CREDENTIALS.leadpingToken}-other` };
      let refused = "";
      const c = await client2025(
        s.url,
        { elicitation: { form: {} } },
        async (_params, id) => {
          const stolen = await answerPost(s.url, id, { action: "accept", content: { confirm: true } }, tenantB);
          refused = `${stolen.status} ${((await stolen.json()) as { error: { message: string } }).error.message}`;
          return new Promise<ElicitResult>(() => {}); // tenant A's person never answers
        },
        tenantA,
      );
      const r = (await c.callTool(WITHDRAW)) as CallToolResult;
      expect(refused).toMatch(/^400 Refused: this question was asked to another caller/);
      expect(out(r)).toMatchObject({ applied: false, confirmation: "timeout" });
      expect(upstreamWrites()).toBe(0);
      await c.close();
    } finally {
      await s.stop();
    }
  });
});

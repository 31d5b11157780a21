/**
 * The built server over stdio under hostile input and failing upstreams at once: stdout must carry
 * nothing but JSON-RPC lines throughout (checked byte for byte on close), and it keeps serving.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { RecordingStdioTransport, sandboxEnv, startServer, until } from "./harness.js";

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(() => sandbox.close());

describe("stdout hygiene", () => {
  it("the check itself catches a stray line on stdout", async () => {
    const t = new RecordingStdioTransport(
      ["-e", `process.stdout.write('{"jsonrpc":"2.0","method":"notifications/x"}\\nDebug: hello\\n{"half":')`],
      { PATH: process.env.PATH },
    );
    await t.start();
    await until(() => t.exitCode !== undefined);
    expect(t.stdoutProblems()).toEqual([
      expect.stringMatching(/^stdout ends without a newline: .*half/),
      'not JSON: "Debug: hello"',
      'not JSON: "{\\"half\\":"',
    ]);
  });

  it("stays pure JSON-RPC through every upstream fault, oversized and deep arguments, and garbage on stdin", {
    tags: ["slow"],
  }, async () => {
    const s = await startServer(sandboxEnv(sandbox, { USERS_MCP_TIMEOUT_MS: "1500", USERS_MCP_LOG_LEVEL: "debug" }));
    const call = (name: string, args: Record<string, unknown> = {}) =>
      s.client.callTool({ name, arguments: args }) as Promise<CallToolResult>;
    try {
      for (const kind of ["reset", "partial", "hang", "stall", "huge", "nonjson"] as const) {
        sandbox.fault({ provider: "leadping", kind, times: 3 });
        const result = await call("get_current_user");
        expect(result.isError, kind).toBe(true);
        sandbox.clearFaults();
      }
      sandbox.fault({ provider: "leadping", status: 503, times: 3, body: { title: "down" } });
      expect((await call("get_current_user")).isError).toBe(true);
      sandbox.clearFaults();

      // 5 MB of argument, and nesting 5,000 deep: both refused by field.
      const big = await call("update_compliance", { compliance: { licensedProducts: ["x".repeat(5_000_000)] } });
      expect((big.content[0] as { text: string }).text).toMatch(/\(arguments\): too large/);
      const depth = 5_000;
      s.transport.writeRaw(
        `{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"update_compliance","arguments":{"compliance":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}}}\n`,
      );
      // Lines no client should send: not JSON, JSON but not JSON-RPC, an unknown method.
      s.transport.writeRaw("this is not json\n");
      s.transport.writeRaw('{"hello":"world"}\n');
      s.transport.writeRaw('{"jsonrpc":"2.0","id":"nope","method":"no/such/method"}\n');
      await until(() => s.stdoutLines().some((l) => l.includes('"id":"deep"')) && s.stdoutLines().some((l) => l.includes('"id":"nope"')));
      const deep = JSON.parse(s.stdoutLines().find((l) => l.includes('"id":"deep"')) as string);
      expect(deep.result.isError).toBe(true);
      expect(deep.result.content[0].text).toMatch(/nested too deeply/);
      const nope = JSON.parse(s.stdoutLines().find((l) => l.includes('"id":"nope"')) as string);
      expect(nope.error.code).toBe(-32601);

      // Still serving, and still right.
      const ok = await call("get_current_user");
      expect(ok.isError).toBeFalsy();
      expect(ok.structuredContent).toMatchObject({ email: "avery.quinn@example.com" });
      expect(s.stderr.join("")).toMatch(/get_current_user: leadping network/);
    } finally {
      sandbox.reset();
      await s.close(); // fails on any stdout line that is not a JSON-RPC message
    }
    expect(s.transport.exitCode).toBe(0);
  });
});

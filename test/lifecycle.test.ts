import { spawn } from "node:child_process";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { isolatedEnv, SERVER, sandboxEnv, startHarness, startServer, until } from "./harness.js";

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ leadpingRateLimit: 1_000_000 });
});
afterAll(() => sandbox.close());

const initialize = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
};

describe("cancellation", () => {
  it("a cancelled tools/call aborts its upstream request", async () => {
    const h = await startHarness({ shareSandbox: sandbox });
    try {
      sandbox.reset();
      sandbox.fault({ provider: "leadping", kind: "hang" });
      const controller = new AbortController();
      const pending = h.client.callTool({ name: "get_current_user", arguments: {} }, undefined, { signal: controller.signal });
      await until(() => sandbox.requestsTo("leadping").length === 1);
      controller.abort("user pressed stop");
      await expect(pending).rejects.toThrow();
      await until(() => sandbox.abandoned.length === 1);
      expect(sandbox.abandoned[0]?.path).toBe("/users/me");
      // The server keeps serving.
      expect((await h.call("get_current_user")).isError).toBeFalsy();
    } finally {
      await h.close();
    }
  });
});

describe("cancellation over stdio", () => {
  it("sends no response for a cancelled call, and its upstream request is dropped", async () => {
    sandbox.reset();
    const s = await startServer(sandboxEnv(sandbox, { USERS_MCP_TIMEOUT_MS: "30000" }));
    try {
      sandbox.fault({ provider: "leadping", kind: "hang" });
      s.transport.writeRaw(
        `${JSON.stringify({ jsonrpc: "2.0", id: "cancel-me", method: "tools/call", params: { name: "get_current_user", arguments: {} } })}\n`,
      );
      await until(() => sandbox.requestsTo("leadping").length === 1);
      s.transport.writeRaw(
        `${JSON.stringify({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "cancel-me", reason: "user pressed stop" } })}\n`,
      );
      await until(() => sandbox.abandoned.length === 1);
      // The cancelled call settles as soon as its upstream request is dropped (what `abandoned` saw); a later
      // call, which the server reads after that and answers only after its own upstream round trip, is
      // answered after anything the cancelled one could still have written.
      expect((await s.client.callTool({ name: "get_current_user", arguments: {} })).isError).toBeFalsy();
      expect(s.stdoutLines().filter((l) => l.includes("cancel-me"))).toEqual([]);
    } finally {
      sandbox.reset();
      await s.close();
    }
  });
});

describe("process lifecycle", { tags: ["slow"] }, () => {
  it("exits 0 within 2 s of stdin closing", async () => {
    const child = spawn(process.execPath, [SERVER], {
      env: { PATH: process.env.PATH, ...isolatedEnv(), ...sandboxEnv(sandbox) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stdin.write(`${JSON.stringify(initialize)}\n`);
    await new Promise((r) => child.stdout.once("data", r));
    const closedAt = Date.now();
    child.stdin.end();
    const code = await new Promise<number | null>((r) => child.on("close", r));
    expect(code).toBe(0);
    // The server's own bound is 2 s (its forced exit); the rest is margin for a loaded machine.
    expect(Date.now() - closedAt).toBeLessThan(5_000);
  });

  it("on SIGTERM mid-call, answers the in-flight call, then exits 0", async () => {
    sandbox.reset();
    sandbox.fault({ provider: "leadping", kind: "hang" });
    const child = spawn(process.execPath, [SERVER], {
      env: { PATH: process.env.PATH, ...isolatedEnv(), ...sandboxEnv(sandbox, { USERS_MCP_TIMEOUT_MS: "20000" }) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stdin.write(`${JSON.stringify(initialize)}\n${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
    child.stdin.write(
      `${JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "get_current_user", arguments: {} } })}\n`,
    );
    await until(() => sandbox.requestsTo("leadping").length === 1);
    const signalledAt = Date.now();
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => child.on("close", r));
    expect(code).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(5_000); // forced exit at 2 s; margin for a loaded machine
    const answer = out
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { id?: number; result?: CallToolResult })
      .find((m) => m.id === 2);
    expect(answer?.result?.isError).toBe(true);
    expect(JSON.stringify(answer?.result?.content)).toMatch(/server is shutting down/);
  });
});

describe("load", { tags: ["slow"] }, () => {
  it("500 concurrent calls over one stdio connection each get their own right answer, on a bounded pool", async () => {
    sandbox.reset();
    const s = await startServer(sandboxEnv(sandbox, { USERS_MCP_LOG_LEVEL: "warn", USERS_MCP_TIMEOUT_MS: "30000" }));
    try {
      let peak = 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, sandbox.openConnections());
      }, 5);
      const calls = Array.from({ length: 500 }, (_, i) =>
        i % 2 === 0
          ? s.client.callTool({ name: "get_current_user", arguments: {} })
          : s.client.callTool({
              name: "update_compliance",
              arguments: { compliance: { licensedStates: [i % 4 === 1 ? "TX" : "ZZ"] }, dryRun: true },
            }),
      );
      const results = (await Promise.all(calls)) as CallToolResult[];
      clearInterval(sampler);
      results.forEach((r, i) => {
        if (i % 2 === 0) expect(r.structuredContent).toMatchObject({ email: "avery.quinn@example.com" });
        else if (i % 4 === 1) expect(r.structuredContent).toMatchObject({ dryRun: true, changed: [{ field: "licensedStates" }] });
        else expect(r.isError).toBe(true);
      });
      expect(peak).toBeLessThanOrEqual(16);
    } finally {
      await s.close();
    }
  });
});

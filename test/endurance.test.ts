// @module-tag slow: 20,000 calls to check memory stays flat
/**
 * The built server over stdio for the long haul: memory stays flat over 20,000 calls, and an
 * exception anywhere (a tool handler, a stray timer, a rejected promise) never takes it down.
 *
 * Probes are loaded into the server process with `--import` (test-only: the shipped server has no
 * such hooks): on SIGUSR2 one runs a full GC and reports the heap on stderr; others throw.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { ALL_TOOLS } from "../src/tools/index.js";
import { type StdioServer, sandboxEnv, startHarness, startServer, until } from "./harness.js";

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ leadpingRateLimit: 1_000_000_000, leadconnectorRateLimit: 1_000_000_000 });
});
afterAll(() => sandbox.close());

const probe = (code: string) => `data:text/javascript,${encodeURIComponent(code)}`;

const HEAP_PROBE = probe(`
process.on("SIGUSR2", () => {
  for (let i = 0; i < 4; i++) globalThis.gc();
  const m = process.memoryUsage();
  process.stderr.write("heap-probe " + JSON.stringify(m) + "\\n");
});`);

async function measure(s: StdioServer): Promise<NodeJS.MemoryUsage> {
  const seen = s.stderr.join("").split("heap-probe ").length;
  s.transport.child?.kill("SIGUSR2");
  await until(() => s.stderr.join("").split("heap-probe ").length > seen);
  const last = s.stderr.join("").split("heap-probe ").at(-1) as string;
  return JSON.parse(last.slice(0, last.indexOf("\n")));
}

/** `total` calls, 64 at a time, alternating a read and a dry-run write; every answer checked. */
async function drive(s: StdioServer, total: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const result = (await (i % 2 === 0
        ? s.client.callTool({ name: "get_current_user", arguments: {} })
        : s.client.callTool({
            name: "update_compliance",
            arguments: { compliance: { acceptedBaa: true }, dryRun: true },
          }))) as CallToolResult;
      if (result.isError) throw new Error(`call ${i} failed: ${JSON.stringify(result.content)}`);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}

describe("memory", () => {
  it("after 20,000 calls the heap is within 20% of what it was after 2,000", { timeout: 120_000 }, async () => {
    const s = await startServer(sandboxEnv(sandbox, { USERS_MCP_LOG_LEVEL: "warn" }), [], ["--expose-gc", "--import", HEAP_PROBE]);
    try {
      await drive(s, 2_000);
      const early = await measure(s);
      sandbox.requests.length = 0; // the stand-in's own log is not the server's memory
      await drive(s, 18_000);
      const late = await measure(s);
      const ratio = late.heapUsed / early.heapUsed;
      const mib = (n: number) => (n / 1048576).toFixed(1);
      // Every figure is the server process's own (the probe runs inside it), never the test's.
      console.log(
        `server after 2,000 -> 20,000 calls: heapUsed ${mib(early.heapUsed)} -> ${mib(late.heapUsed)} MiB (x${ratio.toFixed(3)}), heapTotal ${mib(early.heapTotal)} -> ${mib(late.heapTotal)}, external ${mib(early.external)} -> ${mib(late.external)}, rss ${mib(early.rss)} -> ${mib(late.rss)} MiB`,
      );
      expect(ratio).toBeLessThan(1.2);
      // The RSS growth on Node 24 (about 135 -> 220 MiB with heapUsed flat) is the server's, and is
      // no leak. Measured in the server: about 95 MiB is V8 growing its young generation under a burst
      // of 64 concurrent calls (heapTotal 52 -> 148 MiB; flat with --max-semi-space-size=8), the rest
      // glibc's per-thread malloc arenas (flat with MALLOC_ARENA_MAX=1 as well: RSS 114 -> 116 MiB).
      // So RSS gets only a gross-leak bound here; `npm run bench` reports it beside a floor server's.
      expect(late.rss / early.rss).toBeLessThan(2.5);
    } finally {
      sandbox.requests.length = 0;
      await s.close();
    }
  });
});

describe("exceptions never take the server down", () => {
  const THROWERS = probe(`
process.on("SIGUSR2", () => {
  setTimeout(() => { throw new Error("stray timer exploded"); }, 0);
  Promise.reject(new Error("nobody caught this promise"));
});`);

  it("an uncaught exception and an unhandled rejection in the process are logged, and calls go on", async () => {
    const s = await startServer(sandboxEnv(sandbox), [], ["--import", THROWERS]);
    try {
      expect(((await s.client.callTool({ name: "get_current_user", arguments: {} })) as CallToolResult).isError).toBeFalsy();
      s.transport.child?.kill("SIGUSR2");
      await until(() => /unhandled rejection/.test(s.stderr.join("")) && /uncaught exception/.test(s.stderr.join("")));
      const after = (await s.client.callTool({ name: "get_current_user", arguments: {} })) as CallToolResult;
      expect(after.isError).toBeFalsy();
      expect(s.transport.exitCode).toBeUndefined();
      expect(s.stderr.join("")).toMatch(/stray timer exploded/);
    } finally {
      await s.close();
    }
    expect(s.transport.exitCode).toBe(0);
  });

  it("a handler that throws answers that one call with an internal error, redacted, and the rest are served", async () => {
    const h = await startHarness({ shareSandbox: sandbox });
    const tool = ALL_TOOLS.find((t) => t.name === "get_current_user");
    if (!tool) throw new Error("get_current_user missing");
    const original = tool.handler;
    try {
      const token = h.config.leadping.token as string;
      const throwers: Array<() => Promise<never>> = [
        () => {
          throw new TypeError(`Cannot read properties of undefined (token ${token})`);
        },
        async () => {
          await new Promise((r) => setTimeout(r, 5));
          throw new RangeError("Maximum call stack size exceeded");
        },
        () => Promise.reject("a bare string, not an Error"),
        () => Promise.reject(null),
      ];
      for (const thrower of throwers) {
        tool.handler = thrower as typeof tool.handler;
        const result = await h.call("get_current_user");
        expect(result.isError).toBe(true);
        expect(h.text(result)).toMatch(/^Internal error in users-mcp while running get_current_user: .*This is a bug in the server/s);
        expect(h.text(result)).not.toContain(token);
        tool.handler = original;
        const [a, b] = await Promise.all([
          h.call("get_current_user"),
          h.call("update_compliance", { compliance: { acceptedSms: true }, dryRun: true }),
        ]);
        expect(a.isError).toBeFalsy();
        expect(b.isError).toBeFalsy();
      }
      expect(h.logs.join("\n")).toMatch(/internal error/);
      expect(h.logs.join("\n")).not.toContain(token);
    } finally {
      tool.handler = original;
      await h.close();
    }
  });
});

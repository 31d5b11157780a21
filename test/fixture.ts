import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { test as base } from "vitest";
import { type Sandbox, type SandboxOptions, startSandbox } from "../src/sandbox/index.js";
import { sandboxEnv } from "./harness.js";

// What the tests of the write path share, as vitest fixtures (test.extend) rather than copied
// beforeAll/beforeEach blocks: a test names what it needs (`async ({ sandbox, audit, env }) => …`)
// and gets it fresh.
//
// - sandbox: the loopback stand-in for the three upstreams, started once per file and reset (data,
//   faults, request log) before every test that uses it;
// - audit:   a new audit log path in a new temporary directory (not created: the server creates it
//            0700/0600 itself), with readers for its records;
// - env:     the environment a spawned server needs to use both (sandboxEnv plus the audit log, with
//            confirmation off unless the test says otherwise).

export interface AuditFile {
  /** The log's path; its directory `dir/state/users-mcp` does not exist until the server makes it. */
  path: string;
  /** The test's own temporary directory, for anything else it writes. */
  dir: string;
  /** Every line of the log, parsed. */
  records(): Record<string, unknown>[];
  /** Every line of the log, as written. */
  lines(): string[];
}

export interface WriteFixtures {
  sandbox: Sandbox;
  audit: AuditFile;
  env(extra?: Record<string, string | undefined>): Record<string, string | undefined>;
}

/** The fixtures, with the sandbox started with `options` (rate limits, say) for the whole file. */
export function writeTest(options: SandboxOptions = {}) {
  return base
    .extend<{ fileSandbox: Sandbox }>({
      fileSandbox: [
        // biome-ignore lint/correctness/noEmptyPattern: vitest reads the fixtures a fixture needs from this pattern
        async ({}, use) => {
          const sandbox = await startSandbox(options);
          await use(sandbox);
          await sandbox.close();
        },
        { scope: "file" },
      ],
    })
    .extend<WriteFixtures>({
      sandbox: async ({ fileSandbox }, use) => {
        fileSandbox.reset();
        await use(fileSandbox);
      },
      // biome-ignore lint/correctness/noEmptyPattern: as above
      audit: async ({}, use) => {
        const dir = mkdtempSync(join(tmpdir(), "users-mcp-test-"));
        const path = join(dir, "state", "users-mcp", "audit.jsonl");
        const lines = () => readFileSync(path, "utf8").trim().split("\n");
        await use({ path, dir, lines, records: () => lines().map((l) => JSON.parse(l) as Record<string, unknown>) });
      },
      env: async ({ sandbox, audit }, use) => {
        await use((extra = {}) => ({ ...sandboxEnv(sandbox), USERS_MCP_AUDIT_LOG: audit.path, USERS_MCP_CONFIRM: "off", ...extra }));
      },
    });
}

/** A successful result's structured content. */
export const out = (r: CallToolResult) => r.structuredContent as Record<string, unknown>;
/** The text of a result's first content block. */
export const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;

import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VERSION } from "../src/kernel/version.js";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { ENV_VARS } from "../src/settings/config.js";
import { runCli as run, sandboxEnv, startServer } from "./harness.js";

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(() => sandbox.close());

describe("command line", () => {
  it("--help mentions every flag, subcommand and variable", async () => {
    const { code, stdout } = await run(["--help"]);
    expect(code).toBe(0);
    for (const word of ["--sandbox", "--read-only", "--tools", "--settings", "--version", "doctor", ...ENV_VARS.map((v) => v.name)])
      expect(stdout).toContain(word);
  });

  it("--version prints the version", async () => {
    const { code, stdout } = await run(["--version"]);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(VERSION);
  });

  it("stops on a malformed configuration with every problem on stderr and nothing on stdout", async () => {
    const { code, stdout, stderr } = await run([], {
      LEADPING_BASE_URL: "not a url",
      USERS_MCP_TIMEOUT_MS: "soon",
      LEADPING_API_TOKEN: "secret-canary-cfg-1",
    });
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/LEADPING_BASE_URL must be an https:\/\/ URL/);
    expect(stderr).toMatch(/USERS_MCP_TIMEOUT_MS must be a positive whole number/);
    expect(stderr).not.toContain("secret-canary-cfg-1");
  });

  it("refuses an unknown flag with exit code 2, in plain words", async () => {
    const { code, stderr } = await run(["--frobnicate"]);
    expect(code).toBe(2);
    expect(stderr).toBe("users-mcp: unknown option --frobnicate\nRun users-mcp --help for the options.\n");
    const missing = await run(["--settings"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("users-mcp: --settings needs a value");
  });

  it("--help says the HTTP token is needed beyond loopback, even with --sandbox", async () => {
    const { stdout } = await run(["--help"]);
    expect(stdout).toMatch(
      /USERS_MCP_HTTP_TOKEN\s+bearer token every HTTP request must carry \(required with --http; only --sandbox\s+on a loopback --host may omit it\)/,
    );
  });

  it("refuses an unknown tool in --tools, listing the valid ones", async () => {
    const { code, stderr } = await run(["--tools", "get_current_user,update_everything"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /update_everything[\s\S]*Valid tools: get_current_user, update_compliance, search_users, get_user, update_user, get_gdpr_user, update_gdpr, list_writes, revert_write/,
    );
  });
});

describe("who may do what, over stdio", () => {
  it("--read-only lists only the read tools and refuses a call to a hidden one", async () => {
    const s = await startServer(sandboxEnv(sandbox), ["--read-only"]);
    try {
      const { tools } = await s.client.listTools();
      expect(tools.map((t) => t.name)).toEqual(["get_current_user", "search_users", "get_user", "get_gdpr_user", "list_writes"]);
      await expect(
        s.client.callTool({ name: "update_compliance", arguments: { compliance: { acceptedSms: false } } }),
      ).rejects.toMatchObject({
        code: -32602,
        message: expect.stringMatching(
          /update_compliance is disabled on this server by read-only mode .*Available tools: get_current_user, search_users, get_user, get_gdpr_user, list_writes\./,
        ),
      });
      expect(sandbox.requestsTo("leadping", "PUT")).toHaveLength(0);
    } finally {
      await s.close();
    }
  });

  it("USERS_MCP_TOOLS exposes only the named tools", async () => {
    const s = await startServer(sandboxEnv(sandbox, { USERS_MCP_TOOLS: "update_user" }));
    try {
      const { tools } = await s.client.listTools();
      expect(tools.map((t) => t.name)).toEqual(["update_user"]);
      await expect(s.client.callTool({ name: "get_current_user", arguments: {} })).rejects.toMatchObject({
        code: -32602,
        message: expect.stringMatching(/disabled on this server by the tool allowlist/),
      });
    } finally {
      await s.close();
    }
  });
});

describe("--sandbox", () => {
  it("needs no credentials, says so at start, and marks every result as coming from the sandbox", async () => {
    const s = await startServer({}, ["--sandbox"]);
    try {
      const ok = (await s.client.callTool({ name: "get_current_user", arguments: {} })) as CallToolResult;
      expect(ok.isError).toBeFalsy();
      expect(ok._meta).toEqual({ "users-mcp/sandbox": true });
      expect(JSON.stringify(ok.content)).toMatch(/Sandbox mode: this result came from the built-in sandbox/);
      const refused = (await s.client.callTool({ name: "update_user", arguments: { userId: "x" } })) as CallToolResult;
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(refused.content)).toMatch(/Sandbox mode/);
      expect(s.stderr.join("")).toMatch(/SANDBOX mode/);
    } finally {
      await s.close();
    }
  });
});

describe("doctor", () => {
  it("passes against the sandbox", async () => {
    const { code, stdout } = await run(["doctor", "--sandbox"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/Leadping\s+yes\s+yes\s+yes/);
    expect(stdout).toMatch(/LeadConnector\s+yes\s+yes\s+yes/);
    expect(stdout).toMatch(/2SMS\s+yes\s+yes\s+yes/);
    expect(stdout).toMatch(/All configured providers are reachable/);
  });

  it("fails on broken credentials, says what to fix, and prints no secret", async () => {
    const env = sandboxEnv(sandbox, {
      LEADPING_API_TOKEN: "doctor-canary-leadping",
      LEADCONNECTOR_TOKEN: "doctor-canary-lc",
      TWOSMS_CLIENT_SECRET: "doctor-canary-2sms",
    });
    const { code, stdout, stderr } = await run(["doctor"], env);
    expect(code).toBe(1);
    expect(stdout).toMatch(/Leadping\s+yes\s+yes\s+NO[\s\S]*LEADPING_API_TOKEN/);
    expect(stdout).toMatch(/LeadConnector\s+yes\s+yes\s+NO[\s\S]*LEADCONNECTOR_TOKEN/);
    expect(stdout).toMatch(/2SMS\s+yes\s+yes\s+NO[\s\S]*TWOSMS_CLIENT_SECRET/);
    expect(stdout).toMatch(/3 configured provider\(s\) failing/);
    for (const canary of ["doctor-canary-leadping", "doctor-canary-lc", "doctor-canary-2sms"]) {
      expect(stdout + stderr).not.toContain(canary);
    }
  });

  it("exits 1 when no provider is configured, saying what to set", async () => {
    const { code, stdout } = await run(["doctor"], { USERS_MCP_AUDIT_LOG: "off" });
    expect(code).toBe(1);
    expect(stdout).toContain("No provider is configured, so every tool would fail: set LEADPING_API_TOKEN, LEADCONNECTOR_TOKEN");
  });

  it("reports an unreachable provider as not reachable", async () => {
    const { code, stdout } = await run(["doctor"], {
      LEADPING_API_TOKEN: "x-token-123",
      LEADPING_BASE_URL: "http://127.0.0.1:9",
      USERS_MCP_TIMEOUT_MS: "2000",
    });
    expect(code).toBe(1);
    expect(stdout).toMatch(/Leadping\s+yes\s+NO/);
    expect(stdout).toMatch(/LeadConnector\s+no\s+-/);
  });
});

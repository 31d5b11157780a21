import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { ConfigError, isLoopbackHost, loadConfig } from "../src/settings/config.js";
import { resolveSettings, SettingsError, userEnvFile } from "../src/settings/files.js";
import { runCli, SANDBOX_CREDENTIALS, startHarness, startServer } from "./harness.js";

/** A second loopback server: where a hostile .env would send the user's token. It records everything. */
async function startCatcher(): Promise<{ url: string; seen: IncomingMessage[]; close(): Promise<void> }> {
  const seen: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req);
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const tmp = () => mkdtempSync(join(tmpdir(), "users-mcp-settings-"));

function writeEnv(path: string, lines: string[], mode = 0o600): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, `${lines.join("\n")}\n`, { mode });
  chmodSync(path, mode);
  return path;
}

describe("where settings come from (in process)", () => {
  it("never reads the working directory's .env implicitly, and says so once", () => {
    const cwd = tmp();
    writeEnv(join(cwd, ".env"), ["LEADPING_BASE_URL=http://127.0.0.1:9", "USERS_MCP_ALLOW_CREDENTIAL_CHANGES=true"]);
    const home = tmp();
    const r = resolveSettings({ env: { LEADPING_API_TOKEN: "tok-real-1234" }, cwd, home });
    expect(r.file).toBeUndefined();
    expect(r.env.LEADPING_BASE_URL).toBeUndefined();
    expect(r.env.USERS_MCP_ALLOW_CREDENTIAL_CHANGES).toBeUndefined();
    expect(r.sources).toEqual({ LEADPING_API_TOKEN: "environment" });
    expect(r.notices).toEqual([{ level: "info", message: expect.stringMatching(/not loading .*\.env.*--settings \.env/) }]);
  });

  it("reads the XDG file when it exists; the real environment wins over it", () => {
    const home = tmp();
    const xdg = join(home, "cfg");
    const file = writeEnv(join(xdg, "users-mcp", ".env"), ["LEADPING_API_TOKEN=from-file-token", "USERS_MCP_TIMEOUT_MS=4000"]);
    const r = resolveSettings({ env: { XDG_CONFIG_HOME: xdg, USERS_MCP_TIMEOUT_MS: "5000" }, cwd: tmp(), home });
    expect(r.file).toBe(file);
    expect(r.env.LEADPING_API_TOKEN).toBe("from-file-token");
    expect(r.env.USERS_MCP_TIMEOUT_MS).toBe("5000");
    expect(r.sources).toMatchObject({ LEADPING_API_TOKEN: file, USERS_MCP_TIMEOUT_MS: "environment" });
    expect(userEnvFile({}, home)).toBe(join(home, ".config", "users-mcp", ".env"));
    const config = loadConfig(r.env, {}, r.sources);
    expect(config.sources).toMatchObject({ LEADPING_API_TOKEN: file, USERS_MCP_TIMEOUT_MS: "environment" });
  });

  it("an explicit file that is missing stops start-up with the reason; the flag wins over the variable", () => {
    const cwd = tmp();
    expect(() => resolveSettings({ settingsFlag: "nope.env", env: {}, cwd })).toThrow(SettingsError);
    expect(() => resolveSettings({ settingsFlag: "nope.env", env: {}, cwd })).toThrow(/--settings .*nope\.env.*no such file/);
    expect(() => resolveSettings({ env: { USERS_MCP_ENV_FILE: "gone.env" }, cwd })).toThrow(/USERS_MCP_ENV_FILE .*no such file/);
    writeEnv(join(cwd, "a.env"), ["USERS_MCP_LOG_LEVEL=debug"]);
    writeEnv(join(cwd, "b.env"), ["USERS_MCP_LOG_LEVEL=error"]);
    const r = resolveSettings({ settingsFlag: "a.env", env: { USERS_MCP_ENV_FILE: "b.env" }, cwd });
    expect(r.env.USERS_MCP_LOG_LEVEL).toBe("debug");
  });

  it("warns about a secret in a file others can read, naming the file and chmod 600", () => {
    const cwd = tmp();
    const file = writeEnv(join(cwd, "loose.env"), ["LEADCONNECTOR_TOKEN=pit-secret-value"], 0o644);
    const r = resolveSettings({ settingsFlag: file, env: {}, cwd, platform: "linux" });
    const warn = r.notices.find((n) => n.level === "warn");
    expect(warn?.message).toContain(file);
    expect(warn?.message).toContain("chmod 600");
    expect(warn?.message).toContain("LEADCONNECTOR_TOKEN");
    expect(warn?.message).not.toContain("pit-secret-value");
    chmodSync(file, 0o600);
    expect(resolveSettings({ settingsFlag: file, env: {}, cwd, platform: "linux" }).notices).toEqual([]);
    // No secret in it: nothing to warn about.
    const plain = writeEnv(join(cwd, "plain.env"), ["USERS_MCP_LOG_LEVEL=warn"], 0o644);
    expect(resolveSettings({ settingsFlag: plain, env: {}, cwd, platform: "linux" }).notices).toEqual([]);
  });

  it("accepts http:// only for loopback hosts", () => {
    for (const h of ["127.0.0.1", "127.8.9.10", "localhost", "[::1]", "LOCALHOST"]) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ["example.com", "10.0.0.1", "128.0.0.1", "localhost.evil.com", "[::2]", "127.0.0.1.nip.io"])
      expect(isLoopbackHost(h)).toBe(false);
    expect(() => loadConfig({ LEADCONNECTOR_BASE_URL: "http://services.example.com" })).toThrow(ConfigError);
    expect(() => loadConfig({ LEADCONNECTOR_BASE_URL: "http://services.example.com" })).toThrow(
      /LEADCONNECTOR_BASE_URL must use https:\/\/.*clear text/,
    );
    expect(loadConfig({ TWOSMS_BASE_URL: "http://localhost:8080" }).twosms.baseUrl).toBe("http://localhost:8080");
    expect(loadConfig({ LEADPING_BASE_URL: "https://proxy.example.com/leadping/" }).leadping.baseUrl).toBe(
      "https://proxy.example.com/leadping",
    );
  });
});

describe("a hostile .env in the project a host opens (real processes)", () => {
  let sandbox: Sandbox;
  let catcher: Awaited<ReturnType<typeof startCatcher>>;
  beforeAll(async () => {
    sandbox = await startSandbox();
    catcher = await startCatcher();
  });
  afterAll(async () => {
    await sandbox.close();
    await catcher.close();
  });
  beforeEach(() => {
    sandbox.reset();
    catcher.seen.length = 0;
  });

  /** A cloned repository whose .env redirects every provider and switches credential changes on. */
  function hostileProject(): string {
    const cwd = tmp();
    writeEnv(
      join(cwd, ".env"),
      [
        `LEADPING_BASE_URL=${catcher.url}`,
        `LEADCONNECTOR_BASE_URL=${catcher.url}`,
        `TWOSMS_BASE_URL=${catcher.url}`,
        "USERS_MCP_ALLOW_CREDENTIAL_CHANGES=true",
      ],
      0o644,
    );
    return cwd;
  }

  /** The user's own settings: base URLs at the sandbox (as a user with a local proxy would have them). */
  function userConfigHome(): string {
    const xdg = tmp();
    writeEnv(join(xdg, "users-mcp", ".env"), [
      `LEADPING_BASE_URL=${sandbox.baseUrls.leadping}`,
      `LEADCONNECTOR_BASE_URL=${sandbox.baseUrls.leadconnector}`,
      `TWOSMS_BASE_URL=${sandbox.baseUrls.twosms}`,
    ]);
    return xdg;
  }

  const tokens = {
    LEADPING_API_TOKEN: SANDBOX_CREDENTIALS.leadpingToken,
    LEADCONNECTOR_TOKEN: SANDBOX_CREDENTIALS.leadconnectorToken,
    USERS_MCP_TIMEOUT_MS: "3000",
  };

  it("sends the token only where the user's own settings point, and keeps password changes refused", async () => {
    const cwd = hostileProject();
    const s = await startServer({ ...tokens, XDG_CONFIG_HOME: userConfigHome() }, [], [], { cwd });
    try {
      const me = (await s.client.callTool({ name: "get_current_user", arguments: {} })) as CallToolResult;
      expect(me.isError).toBeFalsy();
      const pw = (await s.client.callTool({
        name: "update_user",
        arguments: { userId: "0IHuJvc2ofPAAA8GzTRi", password: "a-new-password-1" },
      })) as CallToolResult;
      expect(pw.isError).toBe(true);
      expect((pw.content[0] as { text: string }).text).toMatch(/USERS_MCP_ALLOW_CREDENTIAL_CHANGES=true/);
      expect(catcher.seen).toHaveLength(0);
      expect(sandbox.requestsTo("leadping")).toHaveLength(1);
      expect(sandbox.requestsTo("leadconnector", "PUT")).toHaveLength(0);
      const stderr = s.stderr.join("");
      expect(stderr).toMatch(/info: not loading .*\.env.*--settings \.env/);
      expect(stderr.match(/not loading/g)).toHaveLength(1);
      expect(stderr).toContain(`credential (LEADPING_API_TOKEN from environment) is sent only to ${new URL(sandbox.url).origin}`);
    } finally {
      await s.close();
    }
  });

  it("with no base URL set anywhere trusted, the hostile one is still ignored (the default origin is used)", async () => {
    const cwd = hostileProject();
    const s = await startServer(tokens, [], [], { cwd });
    try {
      // No call here: it would go to the real Leadping host, and tests stay on loopback. The start-up
      // line says where the token would go.
      await s.client.listTools();
      expect(catcher.seen).toHaveLength(0);
      expect(s.stderr.join("")).toContain("is sent only to https://api.leadping.ai (LEADPING_BASE_URL from default)");
    } finally {
      await s.close();
    }
  });

  it("--settings and USERS_MCP_ENV_FILE load the file they name", async () => {
    const cwd = tmp();
    writeEnv(join(cwd, "trusted.env"), [
      `LEADPING_BASE_URL=${sandbox.baseUrls.leadping}`,
      `LEADPING_API_TOKEN=${tokens.LEADPING_API_TOKEN}`,
    ]);
    for (const [env, args] of [
      [{}, ["--settings", "trusted.env"]],
      [{ USERS_MCP_ENV_FILE: join(cwd, "trusted.env") }, []],
    ] as const) {
      sandbox.reset();
      const s = await startServer(env, [...args], [], { cwd });
      try {
        const me = (await s.client.callTool({ name: "get_current_user", arguments: {} })) as CallToolResult;
        expect(me.isError).toBeFalsy();
        expect(sandbox.requestsTo("leadping")).toHaveLength(1);
        expect(s.stderr.join("")).toContain(`LEADPING_API_TOKEN from file ${join(cwd, "trusted.env")}`);
      } finally {
        await s.close();
      }
    }
  });

  it("an explicit env file that does not exist, or is a directory, stops start-up naming it", async () => {
    const cwd = tmp();
    const flag = await runCli(["--settings", "missing.env"], {}, { cwd });
    expect(flag.code).toBe(1);
    expect(flag.stdout).toBe("");
    expect(flag.stderr).toContain(`cannot read the env file named by --settings (${join(cwd, "missing.env")}): no such file`);
    const variable = await runCli([], { USERS_MCP_ENV_FILE: "missing.env" }, { cwd });
    expect(variable.code).toBe(1);
    expect(variable.stdout).toBe("");
    expect(variable.stderr).toContain(`cannot read the env file named by USERS_MCP_ENV_FILE (${join(cwd, "missing.env")}): no such file`);
    const dir = await runCli([], { USERS_MCP_ENV_FILE: cwd }, { cwd });
    expect(dir.code).toBe(1);
    expect(dir.stderr).toContain("it is a directory");
  });

  it("refuses --env-file, which Node itself reads, and points to --settings", async () => {
    const cwd = tmp();
    // The file exists (Node loads it before this server runs, so a missing one would end in Node's
    // own message): this server must still stop, saying why, and never serve with it.
    const file = writeEnv(join(cwd, "x.env"), ["USERS_MCP_LOG_LEVEL=debug"]);
    for (const args of [["--env-file", file], [`--env-file=${file}`], ["doctor", "--env-file", file]]) {
      const r = await runCli(args, {}, { cwd });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("--env-file is not an option of users-mcp: Node itself reads that flag");
      expect(r.stderr).toContain("Use --settings PATH");
    }
  });

  it("the XDG file is honoured, with HOME and XDG_CONFIG_HOME pointed elsewhere", async () => {
    for (const which of ["XDG_CONFIG_HOME", "HOME"] as const) {
      const home = tmp();
      const file = which === "HOME" ? join(home, ".config", "users-mcp", ".env") : join(home, "users-mcp", ".env");
      writeEnv(file, [`LEADPING_BASE_URL=${sandbox.baseUrls.leadping}`, `LEADPING_API_TOKEN=${tokens.LEADPING_API_TOKEN}`]);
      const r = await runCli(["doctor"], which === "HOME" ? { HOME: home, XDG_CONFIG_HOME: "" } : { XDG_CONFIG_HOME: home });
      expect(r.stdout).toMatch(/Leadping\s+yes\s+yes\s+yes/);
      expect(r.stdout).toContain(`LEADPING_API_TOKEN from file ${file}`);
      expect(r.stdout).toMatch(/LEADPING_BASE_URL\s+file /);
      expect(r.stdout).not.toContain(tokens.LEADPING_API_TOKEN);
    }
  });

  it("refuses http:// to a non-loopback host at start-up, naming the variable", async () => {
    const r = await runCli([], { LEADPING_API_TOKEN: "secret-canary-http-1", LEADPING_BASE_URL: "http://api.leadping.ai" });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/LEADPING_BASE_URL must use https:\/\//);
    expect(r.stderr).not.toContain("secret-canary-http-1");
  });

  it("warns about a group- or world-readable env file holding a secret", async () => {
    const cwd = tmp();
    const file = writeEnv(join(cwd, "loose.env"), [`LEADPING_API_TOKEN=${tokens.LEADPING_API_TOKEN}`], 0o644);
    const r = await runCli(["doctor", "--settings", file], {}, { cwd });
    expect(r.stderr).toContain(`${file} holds LEADPING_API_TOKEN and is readable by group or others (mode 0644): run chmod 600 ${file}`);
    expect(r.stderr).not.toContain(tokens.LEADPING_API_TOKEN);
  });
});

describe("redirects are never followed", () => {
  it("no request, and so no Authorization header, reaches the origin a redirect points to", async () => {
    const catcher = await startCatcher();
    const h = await startHarness();
    try {
      for (const [provider, tool, args] of [
        ["leadping", "get_current_user", {}],
        ["leadconnector", "update_user", { userId: "0IHuJvc2ofPAAA8GzTRi", firstName: "Jon" }],
      ] as const) {
        h.sandbox.fault({ provider, status: 307, headers: { location: `${catcher.url}/steal?x=1` }, body: "" });
        const r = await h.call(tool, args);
        expect(r.isError).toBe(true);
        expect(h.text(r)).toMatch(/HTTP 307/);
        expect(h.text(r)).toContain(`redirect to ${catcher.url}, not followed`);
        expect(h.text(r)).toMatch(/never follows redirects/);
      }
      expect(catcher.seen).toHaveLength(0);
    } finally {
      await h.close();
      await catcher.close();
    }
  });
});

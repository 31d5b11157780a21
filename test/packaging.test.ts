// @module-tag slow: packs the npm package and the MCP Bundle, and installs them in a clean folder
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { Ajv } from "ajv";
import formats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { ENV_VARS } from "../src/settings/config.js";
import { ALL_TOOLS } from "../src/tools/index.js";
import { isolatedEnv, SANDBOX_CREDENTIALS } from "./harness.js";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
const read = (p: string) => JSON.parse(readFileSync(join(root, p), "utf8"));
const pkg = read("package.json");
const server = read("server.json");
const manifest = read("mcpb/manifest.json");
const MCPB = join(root, "node_modules/@anthropic-ai/mcpb/dist/cli/cli.js");
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `users-mcp-${name}-`));

function files(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p, base) : [relative(base, p)];
  });
}

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(() => sandbox.close());

/** Starts a server the way a host would from a config (command, args, env), and lists its tools. */
async function drive(command: string, args: string[], env: Record<string, string>) {
  const transport = new StdioClientTransport({
    command,
    args,
    env: { PATH: process.env.PATH ?? "", ...isolatedEnv(), ...env },
    stderr: "pipe",
  });
  const client = new Client({ name: "packaging-test", version: "1.0.0" });
  await client.connect(transport);
  return { client, close: () => client.close() };
}

describe("server.json for the MCP Registry", () => {
  it("is valid against the registry's published schema (vendored in schemas/)", () => {
    const schema = read("schemas/server.schema.json");
    const ajv = new Ajv({ strict: false, allErrors: true });
    // ajv-formats is CommonJS: its plugin is the default export's default under NodeNext typing.
    (formats as unknown as { default: (a: Ajv) => void }).default(ajv);
    const validate = ajv.compile(schema);
    const ok = validate(server);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(ok).toBe(true);
    expect(server.$schema).toBe(schema.$id);
    // The validator is not a rubber stamp: a broken copy fails.
    expect(validate({ ...server, name: "no-slash" })).toBe(false);
    expect(validate({ ...server, packages: [{ ...server.packages[1], fileSha256: "abc" }] })).toBe(false);
  });

  it("keeps its name and versions equal to package.json's, and declares every setting with secrets marked", () => {
    expect(server.name).toBe(pkg.mcpName);
    expect(server.version).toBe(pkg.version);
    const [npm, mcpb] = server.packages;
    expect(npm).toMatchObject({ registryType: "npm", identifier: pkg.name, version: pkg.version, transport: { type: "stdio" } });
    expect(mcpb).toMatchObject({ registryType: "mcpb", version: pkg.version, transport: { type: "stdio" } });
    expect(mcpb.identifier).toMatch(new RegExp(`/v${pkg.version}/${pkg.name}-${pkg.version}\\.mcpb$`));
    expect(mcpb.fileSha256).toMatch(/^[a-f0-9]{64}$/);
    expect(npm.environmentVariables.map((v: { name: string }) => v.name)).toEqual(ENV_VARS.map((v) => v.name));
    for (const v of npm.environmentVariables) {
      const known = ENV_VARS.find((e) => e.name === v.name);
      expect(v.isSecret, v.name).toBe(Boolean(known?.secret));
      expect(v.isRequired, v.name).toBe(false); // no provider is required: an unconfigured one only disables its tools
      expect(v.description.length, v.name).toBeGreaterThan(10);
    }
  });
});

describe("the MCP Bundle", () => {
  it("has a manifest in step with the server: version, tools, settings, secrets marked sensitive", () => {
    expect(manifest.version).toBe(pkg.version);
    expect(manifest.server).toMatchObject({ type: "node", entry_point: "dist/index.js" });
    // The bundle's own placeholder, spelled out: MCPB hosts substitute it with the unpacked folder.
    const dirnamePlaceholder = ["$", "{__dirname}"].join("");
    expect(manifest.server.mcp_config.args).toEqual([`${dirnamePlaceholder}/dist/index.js`]);
    expect(manifest.tools).toEqual(ALL_TOOLS.map((t) => ({ name: t.name, description: t.description })));
    const env = manifest.server.mcp_config.env as Record<string, string>;
    const names = new Set(ENV_VARS.map((v) => v.name));
    for (const [name, value] of Object.entries(env)) {
      expect(names.has(name), name).toBe(true);
      const field = /^\$\{user_config\.(\w+)\}$/.exec(value)?.[1] as string;
      expect(manifest.user_config[field], name).toBeDefined();
      expect(Boolean(manifest.user_config[field].sensitive), `${name} sensitive`).toBe(
        Boolean(ENV_VARS.find((v) => v.name === name)?.secret),
      );
      expect(manifest.user_config[field].required, field).toBe(false);
    }
    for (const needed of [
      "LEADPING_API_TOKEN",
      "LEADCONNECTOR_TOKEN",
      "LEADCONNECTOR_COMPANY_ID",
      "TWOSMS_CLIENT_ID",
      "TWOSMS_CLIENT_SECRET",
      "TWOSMS_ACCESS_TOKEN",
      "TWOSMS_BASE_URL",
      "USERS_MCP_READ_ONLY",
      "USERS_MCP_ALLOW_CREDENTIAL_CHANGES",
      "USERS_MCP_CONFIRM",
      "USERS_MCP_AUDIT_LOG",
    ])
      expect(env[needed], needed).toBeDefined();
  });

  it("packs with the official CLI, holds only what runs, and serves over stdio from an empty directory", async () => {
    const out = tmp("mcpb");
    await run(process.execPath, [join(root, "scripts/pack-mcpb.mjs"), "--out", out]);
    const bundle = join(out, `${pkg.name}-${pkg.version}.mcpb`);
    const dir = tmp("unpacked");
    await run(process.execPath, [MCPB, "unpack", bundle, dir]);
    await run(process.execPath, [MCPB, "validate", join(dir, "manifest.json")]);
    const inside = files(dir).sort();
    expect(inside.filter((f) => !f.startsWith("dist/"))).toEqual(["LICENSE", "manifest.json", "package.json"]);
    expect(inside).toContain("dist/index.js");
    expect(inside.some((f) => /node_modules|^src\/|^test\/|\.ts$/.test(f))).toBe(false);

    // The environment a host builds from mcp_config: a Leadping token given, every other field left empty.
    const given: Record<string, string> = {
      leadping_token: SANDBOX_CREDENTIALS.leadpingToken,
      twosms_base_url: "https://portal.2sms.us",
      confirm: "ask",
    };
    const sub = (s: string) =>
      s
        .replaceAll(["$", "{__dirname}"].join(""), dir)
        .replace(/\$\{user_config\.(\w+)\}/g, (_m, k: string) => String(given[k] ?? manifest.user_config[k]?.default ?? ""));
    const cfg = manifest.server.mcp_config;
    const env = Object.fromEntries(Object.entries(cfg.env as Record<string, string>).map(([k, v]) => [k, sub(v)]));
    // Only for the test: the upstreams are the loopback sandbox.
    env.LEADPING_BASE_URL = sandbox.baseUrls.leadping;
    const s = await drive(cfg.command === "node" ? process.execPath : cfg.command, cfg.args.map(sub), env);
    try {
      const { tools } = await s.client.listTools();
      expect(tools.map((t) => t.name)).toEqual(ALL_TOOLS.map((t) => t.name));
      const me = (await s.client.callTool({ name: "get_current_user", arguments: {} })) as CallToolResult;
      expect(me.isError, JSON.stringify(me.content)).toBeFalsy();
      // An unconfigured provider does not stop the server: its tools say what to set.
      const lc = (await s.client.callTool({ name: "get_user", arguments: { userId: "0IHuJvc2ofPAAA8GzTRi" } })) as CallToolResult;
      expect(lc.isError).toBe(true);
      expect((lc.content[0] as { text: string }).text).toMatch(/LEADCONNECTOR_TOKEN/);
    } finally {
      await s.close();
    }
  });
});

describe("the npm package", () => {
  it("ships dist, README, SECURITY.md, LICENSE, mcp.json and .env.example only, and installs and runs from an empty prefix", async () => {
    const out = tmp("npm-pack");
    // --ignore-scripts: dist is already built, and a rebuild would pull it from under tests running beside this one.
    const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", out], { cwd: root });
    const [info] = JSON.parse(stdout.slice(stdout.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const shipped = (info?.files ?? []).map((f) => f.path).sort();
    const outside = shipped.filter((f) => !f.startsWith("dist/"));
    expect(outside).toEqual([".env.example", "LICENSE", "README.md", "SECURITY.md", "mcp.json", "package.json"]);
    expect(shipped).toContain("dist/index.js");
    expect(pkg.dependencies ?? {}).toEqual({}); // dist/ carries its dependencies: installing fetches nothing
    // A plain `npm pack` in a checkout writes this file beside package.json: git ignores it.
    await run("git", ["check-ignore", "--quiet", "--no-index", info?.filename as string], { cwd: root });

    const prefix = tmp("npm-prefix");
    await run(
      "npm",
      [
        "install",
        "--global",
        "--prefix",
        prefix,
        "--offline",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        join(out, info?.filename as string),
      ],
      {
        cwd: prefix,
      },
    );
    const bin = join(prefix, "bin", "users-mcp");
    const { stdout: version } = await run(bin, ["--version"], {
      env: { PATH: `${process.execPath.replace(/\/node$/, "")}:${process.env.PATH}` },
    });
    expect(version.trim()).toBe(pkg.version);
    const s = await drive(bin, ["--sandbox"], { PATH: `${process.execPath.replace(/\/node$/, "")}:${process.env.PATH}` });
    try {
      const { tools } = await s.client.listTools();
      expect(tools).toHaveLength(ALL_TOOLS.length);
      const me = (await s.client.callTool({ name: "get_current_user", arguments: {} })) as CallToolResult;
      expect(me.isError).toBeFalsy();
    } finally {
      await s.close();
    }
  });
});

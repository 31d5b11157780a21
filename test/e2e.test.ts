import { spawn } from "node:child_process";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolListing } from "../src/mcp/listing.js";
import { type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { ALL_TOOLS } from "../src/tools/index.js";
import { isolatedEnv, SERVER, sandboxEnv, startServer } from "./harness.js";

let sandbox: Sandbox;
let server: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  sandbox = await startSandbox();
  server = await startServer(sandboxEnv(sandbox));
});
afterAll(async () => {
  await server.close();
  await sandbox.close();
});

describe("the built server over stdio", () => {
  it("lists the tools with schemas and all four annotations", async () => {
    const { tools } = await server.client.listTools();
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
    for (const t of tools) {
      expect(t.inputSchema.type).toBe("object");
      expect(t.outputSchema?.type).toBe("object");
      expect(Object.keys(t.annotations ?? {}).sort()).toEqual([
        "destructiveHint",
        "idempotentHint",
        "openWorldHint",
        "readOnlyHint",
        "title",
      ]);
    }
  });

  it("answers tools/list with what the definitions render (the build renders the listing ahead), and a read-only server with its part", async () => {
    const { tools } = await server.client.listTools();
    expect(tools).toEqual(toolListing(ALL_TOOLS));
    const readOnly = await startServer(sandboxEnv(sandbox, { USERS_MCP_READ_ONLY: "true" }));
    try {
      const listed = (await readOnly.client.listTools()).tools;
      expect(listed).toEqual(toolListing(ALL_TOOLS.filter((t) => t.annotations.readOnlyHint)));
    } finally {
      await readOnly.close();
    }
  });

  it("calls get_current_user and update_compliance end to end", async () => {
    const me = (await server.client.callTool({ name: "get_current_user", arguments: {} })) as CallToolResult;
    expect(me.isError).toBeFalsy();
    expect(me.structuredContent).toMatchObject({ email: "avery.quinn@example.com" });

    const upd = (await server.client.callTool({
      name: "update_compliance",
      arguments: { compliance: { acceptedEmail: false }, dryRun: true },
    })) as CallToolResult;
    expect(upd.structuredContent).toMatchObject({ dryRun: true, changed: [{ field: "acceptedEmail", before: true, after: false }] });
    expect(sandbox.requestsTo("leadping", "PUT")).toHaveLength(0);
  });

  it("writes nothing but JSON-RPC on stdout", async () => {
    // A raw read of stdout, independent of the SDK's parser: every line must be a JSON-RPC 2.0 message.
    const child = spawn(process.execPath, [SERVER], {
      env: { PATH: process.env.PATH, ...isolatedEnv(), ...sandboxEnv(sandbox) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const lines = [
      {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
      },
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
      { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "get_current_user", arguments: {} } },
      {
        jsonrpc: "2.0",
        id: 4,
        method: "tools/call",
        params: { name: "update_compliance", arguments: { compliance: { licensedStates: ["XX"] } } },
      },
    ];
    child.stdin.write(`${lines.map((l) => JSON.stringify(l)).join("\n")}\n`);
    await new Promise<void>((resolve) => {
      const check = () => (out.split("\n").filter(Boolean).length >= 4 ? resolve() : setTimeout(check, 20));
      check();
    });
    child.stdin.end();
    const code = await new Promise<number | null>((r) => child.on("close", r));
    expect(code).toBe(0);
    const messages = out
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { jsonrpc: string; id?: number });
    expect(messages.every((m) => m.jsonrpc === "2.0")).toBe(true);
    expect(messages.map((m) => m.id).sort()).toEqual([1, 2, 3, 4]);
  });

  it("logs to stderr, not stdout", () => {
    expect(server.stderr.join("")).toMatch(/ready on stdio/);
    for (const line of server.stdoutLines()) expect(() => JSON.parse(line)).not.toThrow();
  });
});

describe("every tool end to end, with canary secrets", () => {
  const PASSWORD = "e2e-Canary-Password-51d7";
  const PIN = "73910482";

  it("drives update_user and update_gdpr through the built server and leaks no secret anywhere", async () => {
    const env = sandboxEnv(sandbox, { USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "true", USERS_MCP_LOG_LEVEL: "debug" });
    const s = await startServer(env);
    try {
      const call = async (name: string, args: Record<string, unknown>) =>
        (await s.client.callTool({ name, arguments: args })) as CallToolResult;
      const results = [
        await call("update_user", { userId: "aB3dE5gH7jK9mN1pQ3sT", lastName: "Márquez", password: PASSWORD }),
        await call("update_gdpr", { userId: "950c5cc3-a161-4d7e-858c-c8359d79b2a9", displayName: "Tom B.", pin: PIN }),
        await call("update_gdpr", { userId: "950c5cc3-a161-4d7e-858c-c8359d79b2a9", password: PASSWORD, dryRun: true }),
        await call("get_current_user", {}),
      ];
      expect(results.map((r) => Boolean(r.isError))).toEqual([false, false, false, false]);
      expect(results[0]?.structuredContent).toMatchObject({ applied: true, user: { lastName: "Márquez" } });
      expect(results[1]?.structuredContent).toMatchObject({
        applied: true,
        user: { displayName: "Tom B." },
        gdpr: { declineDate: "2024-03-02T08:00:00.0000000+00:00" },
      });
      // The credentials did reach the upstreams...
      expect(JSON.parse(sandbox.requestsTo("leadconnector", "PUT").at(-1)?.body ?? "").password).toBe(PASSWORD);
      expect(JSON.parse(sandbox.requestsTo("twosms", "POST").at(-1)?.body ?? "").Pin).toBe(PIN);

      // ...and nothing else did: not the tool results, stdout, or stderr.
      const accessToken =
        sandbox
          .requestsTo("twosms", "GET")
          .at(-1)
          ?.headers.authorization?.replace(/^Bearer /, "") ?? "";
      expect(accessToken.length).toBeGreaterThan(10);
      const secrets = [PASSWORD, PIN, accessToken, env.LEADPING_API_TOKEN, env.LEADCONNECTOR_TOKEN, env.TWOSMS_CLIENT_SECRET] as string[];
      const everything = [JSON.stringify(results), s.stdoutLines().join("\n"), s.stderr.join("")].join("\n");
      expect(s.stderr.join("")).toMatch(/update_gdpr: ok/);
      for (const secret of secrets) expect(everything).not.toContain(secret);
    } finally {
      await s.close();
    }
  });
});

describe("secrets echoed back by upstreams in errors", () => {
  it("are scrubbed from results, stdout and stderr of the built server", async () => {
    const PASSWORD = "e2e-Canary-Echoed-Password-9f2c";
    const env = sandboxEnv(sandbox, { USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "true", USERS_MCP_LOG_LEVEL: "debug" });
    const secrets = [PASSWORD, env.LEADPING_API_TOKEN, env.LEADCONNECTOR_TOKEN, env.TWOSMS_CLIENT_SECRET] as string[];
    sandbox.reset();
    sandbox.fault({
      provider: "twosms",
      path: "/Token",
      status: 400,
      body: { error: "invalid_client", error_description: `client_secret ${env.TWOSMS_CLIENT_SECRET} is not valid` },
    });
    sandbox.fault({
      provider: "leadconnector",
      method: "PUT",
      status: 422,
      body: {
        statusCode: 422,
        message: [`password ${PASSWORD} is too common`, `seen with Authorization: Bearer ${env.LEADCONNECTOR_TOKEN}`],
      },
    });
    sandbox.fault({
      provider: "leadping",
      status: 401,
      body: { title: "Unauthorized", detail: `token ${env.LEADPING_API_TOKEN} has expired` },
    });
    const s = await startServer(env);
    try {
      const call = async (name: string, args: Record<string, unknown>) =>
        (await s.client.callTool({ name, arguments: args })) as CallToolResult;
      const results = [
        await call("update_gdpr", { userId: "950c5cc3-a161-4d7e-858c-c8359d79b2a9", displayName: "Tom B." }),
        await call("update_user", { userId: "aB3dE5gH7jK9mN1pQ3sT", password: PASSWORD }),
        await call("get_current_user", {}),
      ];
      expect(results.map((r) => Boolean(r.isError))).toEqual([true, true, true]);
      const texts = results.map((r) => (r.content[0] as { text: string }).text);
      expect(texts[0]).toMatch(/client_secret \[redacted\] is not valid/);
      expect(texts[1]).toMatch(/password \[redacted\] is too common/);
      expect(texts[2]).toMatch(/token \[redacted\] has expired/);
      const everything = [JSON.stringify(results), s.stdoutLines().join("\n"), s.stderr.join("")].join("\n");
      for (const secret of secrets) expect(everything).not.toContain(secret);
    } finally {
      sandbox.reset();
      await s.close();
    }
  });
});

describe("npm run demo", () => {
  it("calls every tool, undo included, and each answers as expected in a readable transcript", async () => {
    const { execFile } = await import("node:child_process");
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [new URL("../scripts/demo.mjs", import.meta.url).pathname], { timeout: 20_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
      ),
    );
    // Every tool the server lists is called at least once (each step prints "  <tool> <arguments>").
    const listed = out.slice(out.indexOf("tools/list"), out.indexOf("\n\n", out.indexOf("tools/list")));
    const tools = [...listed.matchAll(/^ {2}([a-z_]+) /gm)].map((m) => m[1]);
    expect(tools).toHaveLength(9);
    for (const tool of tools) expect(out, tool).toMatch(new RegExp(`^ {2}${tool} \\{`, "m"));
    expect(out).toMatch(/^ {5}[0-9a-f-]{36} {2}update_user {7}applied {3}firstName$/m);
    expect(out).toMatch(/This undoes write [0-9a-f-]{36}/);
    expect(out).toMatch(/Nothing to undo: write [0-9a-f-]{36} was already undone by write [0-9a-f-]{36}\. Nothing was written\./);
    expect(out).toMatch(/Dry run: 1 field\(s\) would change \(acceptedSms\)/);
    expect(out).toMatch(/firstName: "John" → "Jonathan"/);
    expect(out).toMatch(/timeZone: "GMT Standard Time" → "W\. Europe Standard Time"/);
    expect(out).toMatch(/Demo finished: every tool answered as expected\./);
  });
});

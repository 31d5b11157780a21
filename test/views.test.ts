import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SANDBOX_CREDENTIALS, type Sandbox, startSandbox } from "../src/sandbox/index.js";
import { ALL_TOOLS } from "../src/tools/index.js";
import { isolatedEnv, SERVER, sandboxEnv, until } from "./harness.js";

// MCP Apps on the wire, against the built server over stdio: the views exist only for a client that
// declares the io.modelcontextprotocol/ui extension, in either protocol generation; any other client
// gets the tools/list of the reviewed snapshots, byte for byte.

const UI = { "io.modelcontextprotocol/ui": { mimeTypes: ["text/html;profile=mcp-app"] } };
const URI = "ui://users-mcp/views.html";
type Msg = { id?: number; result?: Record<string, unknown>; error?: { code: number; message: string } };

/** One server, spoken to in raw JSON-RPC lines: MCP 2026-07-28 (capabilities in every request's `_meta`) or 2025 (initialize). */
class Raw {
  private child: ChildProcessWithoutNullStreams;
  private buffer = "";
  private got = new Map<number, Msg>();
  private next = 1;
  constructor(
    env: Record<string, string | undefined>,
    private readonly generation: "2026" | "2025",
    private readonly capabilities: Record<string, unknown>,
  ) {
    this.child = spawn(process.execPath, [SERVER], { env: { PATH: process.env.PATH, ...isolatedEnv(), ...env } as NodeJS.ProcessEnv });
    this.child.stdout.on("data", (d: Buffer) => {
      this.buffer += d.toString();
      for (let i = this.buffer.indexOf("\n"); i >= 0; i = this.buffer.indexOf("\n")) {
        const msg = JSON.parse(this.buffer.slice(0, i)) as Msg;
        this.buffer = this.buffer.slice(i + 1);
        if (typeof msg.id === "number") this.got.set(msg.id, msg);
      }
    });
  }
  async start(): Promise<void> {
    if (this.generation === "2025") {
      await this.request("initialize", {
        protocolVersion: "2025-11-25",
        capabilities: this.capabilities,
        clientInfo: { name: "raw", version: "1" },
      });
      this.child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
    }
  }
  async request(method: string, params: Record<string, unknown> = {}): Promise<Msg> {
    const id = this.next++;
    const meta =
      this.generation === "2026" && method !== "initialize"
        ? {
            _meta: {
              "io.modelcontextprotocol/protocolVersion": "2026-07-28",
              "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
              "io.modelcontextprotocol/clientCapabilities": this.capabilities,
            },
          }
        : {};
    this.child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, ...meta } })}\n`);
    await until(() => this.got.has(id), 15_000);
    return this.got.get(id) as Msg;
  }
  close(): void {
    this.child.kill();
  }
}

/** tools/list as the reviewed snapshots (test/__toolsnaps__) say it, in the catalog's order. */
const snapshotTools = () =>
  ALL_TOOLS.map(
    (t) => JSON.parse(readFileSync(new URL(`./__toolsnaps__/${t.name}.json`, import.meta.url), "utf8")) as Record<string, unknown>,
  );

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});

describe.each(["2026", "2025"] as const)("MCP %s", (generation) => {
  const open = async (capabilities: Record<string, unknown>) => {
    const raw = new Raw(sandboxEnv(sandbox), generation, capabilities);
    await raw.start();
    return raw;
  };

  it("a client without the extension gets the tools/list of the snapshots, byte for byte, and no view resource", async () => {
    expect(readdirSync(new URL("./__toolsnaps__/", import.meta.url)).length).toBe(ALL_TOOLS.length);
    // Also a client that declares the extension without the MCP App MIME type: it cannot render these views.
    for (const capabilities of [
      { elicitation: { form: {} } },
      { extensions: { "io.modelcontextprotocol/ui": { mimeTypes: ["text/plain"] } } },
    ]) {
      const raw = await open(capabilities);
      try {
        const list = await raw.request("tools/list");
        expect(JSON.stringify(list.result?.tools)).toBe(JSON.stringify(snapshotTools()));
        expect(JSON.stringify(list.result?.tools)).not.toContain("ui://");
        expect((await raw.request("resources/list")).result?.resources).toEqual([]);
        const read = await raw.request("resources/read", { uri: URI });
        expect(read.error?.message).toMatch(/not found/i);
        const dry = await raw.request("tools/call", {
          name: "update_compliance",
          arguments: { compliance: { acceptedSms: false }, dryRun: true },
        });
        expect((dry.result?._meta as Record<string, unknown> | undefined)?.["users-mcp/record"]).toBeUndefined();
        expect(JSON.stringify(dry.result?.structuredContent)).toContain("the record of Avery Quinn");
      } finally {
        raw.close();
      }
    }
  });

  it("a client with the extension gets _meta.ui on the tools with a view, the resource with an empty CSP, and the document", async () => {
    const raw = await open({ extensions: UI });
    try {
      const tools = (await raw.request("tools/list")).result?.tools as Array<{ name: string; _meta?: { ui?: { resourceUri?: string } } }>;
      const withView = tools.filter((t) => t._meta?.ui?.resourceUri === URI).map((t) => t.name);
      expect(withView.sort()).toEqual(
        [
          "get_current_user",
          "update_compliance",
          "get_user",
          "update_user",
          "get_gdpr_user",
          "update_gdpr",
          "list_writes",
          "revert_write",
        ].sort(),
      );
      // Nothing else differs from the snapshots.
      const stripped = tools.map(({ _meta, ...t }) => t);
      expect(JSON.stringify(stripped)).toBe(JSON.stringify(snapshotTools()));

      const resources = (await raw.request("resources/list")).result?.resources as Array<Record<string, unknown>>;
      expect(resources).toMatchObject([
        { uri: URI, mimeType: "text/html;profile=mcp-app", _meta: { ui: { csp: {}, prefersBorder: true } } },
      ]);
      const read = (await raw.request("resources/read", { uri: URI })).result as {
        contents: Array<{ text: string; mimeType: string; _meta: unknown }>;
      };
      const doc = read.contents[0];
      expect(doc?.mimeType).toBe("text/html;profile=mcp-app");
      expect(doc?._meta).toEqual({ ui: { csp: {}, prefersBorder: true } });
      expect(doc?.text).toMatch(/^<!doctype html>/);
      expect(doc?.text).toContain("connect-src 'none'");
      // Self-contained: no script or stylesheet from anywhere, and nothing of the server's secrets.
      expect(doc?.text).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet/i);
      for (const secret of Object.values(SANDBOX_CREDENTIALS)) expect(doc?.text).not.toContain(secret);
      expect((await raw.request("resources/read", { uri: "ui://users-mcp/other.html" })).error?.message).toMatch(/not found/i);
    } finally {
      raw.close();
    }
  });

  it("a dry run names the record it applies to: in its message for everyone, and in _meta for a host with views", async () => {
    const raw = await open({ extensions: UI });
    try {
      const dry = await raw.request("tools/call", {
        name: "update_compliance",
        arguments: { compliance: { acceptedSms: false }, dryRun: true },
      });
      const result = dry.result as { structuredContent: { message: string }; _meta: Record<string, unknown> };
      expect(result.structuredContent.message).toContain("Avery Quinn (Leadping user usr_01HZX3SANDBOX)");
      expect(result._meta["users-mcp/record"]).toEqual({
        tool: "update_compliance",
        provider: "leadping",
        id: "usr_01HZX3SANDBOX",
        name: "Avery Quinn",
      });
      expect(sandbox.requestsTo("leadping", "PUT")).toHaveLength(0);
    } finally {
      raw.close();
    }
  });
});

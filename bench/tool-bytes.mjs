// What the model reads of this server's tools, in bytes, as three hosts send them: the tools/list of
// the built server (over stdio, as a host gets it) rendered the way each host puts a tool in its
// model request. Every byte is paid on every turn of a conversation with a host that sends all tools.
//
//   node bench/tool-bytes.mjs [--json]   (needs a build)
//
//   Gemini CLI   a function declaration: { name, description, parametersJsonSchema } (DiscoveredMCPTool
//                keeps the description and the input schema; the output schema is not sent)
//   Claude Code  { name: "mcp__<server>__<tool>", description, input_schema }
//   Codex        a Responses API function: { type, name: "mcp__<server>__<tool>", description, strict,
//                parameters }
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

/** Bytes per tool and in all, per host, for a tools/list answer's tools. */
export function toolBytes(tools, server = "users-mcp") {
  const hosts = {
    "Gemini CLI": (t) => ({ name: t.name, description: t.description ?? "", parametersJsonSchema: t.inputSchema }),
    "Claude Code": (t) => ({ name: `mcp__${server}__${t.name}`, description: t.description ?? "", input_schema: t.inputSchema }),
    Codex: (t) => ({
      type: "function",
      name: `mcp__${server}__${t.name}`,
      description: t.description ?? "",
      strict: false,
      parameters: t.inputSchema,
    }),
  };
  const bytes = (v) => Buffer.byteLength(JSON.stringify(v));
  return Object.fromEntries(
    Object.entries(hosts).map(([host, render]) => {
      const perTool = Object.fromEntries(tools.map((t) => [t.name, bytes(render(t))]));
      return [host, { total: bytes(tools.map(render)), perTool }];
    }),
  );
}

/** The built server's tools/list, as a host receives it. */
export async function listTools() {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [fileURLToPath(new URL("../dist/index.js", import.meta.url)), "--sandbox"],
    env: { PATH: process.env.PATH ?? "", USERS_MCP_LOG_LEVEL: "warn" },
    stderr: "ignore",
  });
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(transport);
  const { tools } = await client.listTools();
  await client.close();
  return tools;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = toolBytes(await listTools());
  if (process.argv.includes("--json")) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    const hosts = Object.keys(result);
    const names = Object.keys(result[hosts[0]].perTool);
    process.stdout.write(
      `tool definitions as sent to the model, bytes\n  ${"tool".padEnd(20)}${hosts.map((h) => h.padStart(13)).join("")}\n`,
    );
    for (const n of names)
      process.stdout.write(`  ${n.padEnd(20)}${hosts.map((h) => String(result[h].perTool[n]).padStart(13)).join("")}\n`);
    process.stdout.write(`  ${"all nine".padEnd(20)}${hosts.map((h) => String(result[h].total).padStart(13)).join("")}\n`);
  }
}

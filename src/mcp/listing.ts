import type { Tool } from "@modelcontextprotocol/server";
import { z } from "zod";
import type { ToolDefinition } from "../tools/define.js";

/** JSON Schema for a tool's input or output, as MCP hosts read it. */
export function jsonSchemaOf(schema: z.ZodType, io: "input" | "output"): Tool["inputSchema"] {
  const json = z.toJSONSchema(schema, { target: "draft-7", io, unrepresentable: "any" }) as Record<string, unknown>;
  // These schemas use nothing whose meaning differs between draft-07 and MCP's default dialect
  // (2020-12), so the marker is bytes the model reads for nothing.
  delete json.$schema;
  return slim(json) as Tool["inputSchema"];
}

/**
 * What a model reads of every tool costs context on every turn, so the schemas carry only what helps
 * it choose and fill a call. zod writes a regex beside `format` for date-times and emails (400
 * characters for a date-time) that says nothing the format does not; the server checks the real
 * rule either way.
 */
function slim(node: unknown): unknown {
  if (Array.isArray(node)) {
    for (const item of node) slim(item);
  } else if (node !== null && typeof node === "object") {
    const o = node as Record<string, unknown>;
    if (typeof o.format === "string" && typeof o.pattern === "string") delete o.pattern;
    for (const v of Object.values(o)) slim(v);
  }
  return node;
}

export function toolListing(tools: ReadonlyArray<ToolDefinition>): Tool[] {
  return tools.map((t) => ({
    name: t.name,
    title: t.title,
    description: t.description,
    inputSchema: jsonSchemaOf(t.input, "input"),
    outputSchema: jsonSchemaOf(t.output, "output") as Tool["outputSchema"],
    annotations: { title: t.title, ...t.annotations },
  }));
}

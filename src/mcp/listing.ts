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
 * What a model reads of every tool costs context on every turn (Gemini CLI sends every tool's schema
 * up front), so the schemas it reads carry what shapes a valid call (types, enums, patterns, formats,
 * required fields, defaults, closed objects) and not the server's size caps. The server checks the full
 * schema either way, and a value over a cap is refused with the field and the limit named
 * (src/mcp/explain.ts): the cap reaches the agent at the one moment it matters. Dropped here:
 * - `maxLength` and `maxItems`, and `minLength: 1` (every such field is trimmed and checked non-empty);
 * - `propertyNames: {"type": "string"}`, which says nothing (JSON object keys are strings);
 * - a regex beside `format` (zod writes one for date-times and emails, 400 characters for a date-time).
 */

function slim(node: unknown): unknown {
  if (Array.isArray(node)) {
    for (const item of node) slim(item);
  } else if (node !== null && typeof node === "object") {
    const o = node as Record<string, unknown>;
    if (typeof o.format === "string" && typeof o.pattern === "string") delete o.pattern;
    delete o.maxLength;
    delete o.maxItems;
    if (o.minLength === 1) delete o.minLength;
    for (const v of Object.values(o)) slim(v);
    const names = o.propertyNames as Record<string, unknown> | undefined;
    if (names && Object.keys(names).length === 1 && names.type === "string") delete o.propertyNames;
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

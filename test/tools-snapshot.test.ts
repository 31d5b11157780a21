import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { toolListing } from "../src/mcp/listing.js";
import { TOOL_CATALOG, TOOL_NAMES } from "../src/tools/catalog.js";
import { ALL_TOOLS, selectTools } from "../src/tools/index.js";

describe("what the model sees", () => {
  // One file per tool, as github-mcp-server's __toolsnaps__: a change shows which tool moved. A change here
  // is a change to what every agent reads: review the diff, then update with `vitest -u`.
  it.each(toolListing(ALL_TOOLS).map((t) => [t.name, t] as const))("%s matches its reviewed snapshot", async (name, tool) => {
    await expect(`${JSON.stringify(tool, null, 2)}\n`).toMatchFileSnapshot(`./__toolsnaps__/${name}.json`);
  });

  it("has a snapshot for every tool and none for a tool that is gone", () => {
    const files = readdirSync(new URL("./__toolsnaps__/", import.meta.url)).sort();
    expect(files).toEqual(ALL_TOOLS.map((t) => `${t.name}.json`).sort());
  });

  it("keeps what the model reads within budget: the nine tools as Gemini CLI sends them within 12,000 bytes, none over 2,500", () => {
    // Gemini CLI sends every tool up front as a function declaration: name, description, input schema
    // (bench/tool-bytes.mjs renders the other hosts too). Every byte is paid on every turn.
    const declarations = toolListing(ALL_TOOLS).map((t) => ({
      name: t.name,
      description: t.description,
      parametersJsonSchema: t.inputSchema,
    }));
    const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
    expect(size(declarations)).toBeLessThanOrEqual(12_000);
    for (const d of declarations) expect(size(d), d.name).toBeLessThanOrEqual(2_500);
    // No schema carries a regex that only restates a format (zod writes a 400-character one for date-time).
    expect(JSON.stringify(declarations)).not.toMatch(/"format":"date-time","pattern"/);
  });

  it("renders each schema as zod does, less only size caps and keywords that say nothing (the server checks the full schema)", () => {
    // What the listing leaves out: maxLength, maxItems, minLength 1, propertyNames {type: string}, a
    // pattern beside a format. Everything else (types, enums, patterns, formats, required, defaults,
    // closed objects, descriptions) is zod's own rendering, unchanged.
    const lessCaps = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(lessCaps);
      if (node === null || typeof node !== "object") return node;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) {
        if (k === "maxLength" || k === "maxItems" || k === "$schema" || (k === "minLength" && v === 1)) continue;
        if (k === "pattern" && typeof (node as { format?: unknown }).format === "string") continue;
        const slimmed = lessCaps(v);
        if (k === "propertyNames" && JSON.stringify(slimmed) === '{"type":"string"}') continue;
        out[k] = slimmed;
      }
      return out;
    };
    const listed = toolListing(ALL_TOOLS);
    let capped = 0;
    for (const tool of ALL_TOOLS) {
      const shown = listed.find((t) => t.name === tool.name);
      const full = z.toJSONSchema(tool.input, { target: "draft-7", io: "input", unrepresentable: "any" });
      expect(shown?.inputSchema, tool.name).toEqual(lessCaps(full));
      if (JSON.stringify(full).includes("maxLength")) capped += 1;
    }
    // The caps exist (the server enforces them): the comparison is not between two renderings without any.
    expect(capped).toBeGreaterThanOrEqual(7);
  });

  it("describes every input field and declares all four annotations explicitly", () => {
    for (const tool of toolListing(ALL_TOOLS)) {
      const props = (tool.inputSchema.properties ?? {}) as Record<string, { description?: string }>;
      for (const [name, schema] of Object.entries(props)) {
        expect(schema.description, `${tool.name}.${name}`).toMatch(/\w{3,}/);
      }
      expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
      for (const a of ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const) {
        expect(typeof tool.annotations?.[a], `${tool.name}.${a}`).toBe("boolean");
      }
      expect(tool.description?.length ?? 0).toBeGreaterThan(100);
    }
  });

  it("marks exactly the read tools read-only, and read-only mode serves all of them", () => {
    expect(selectTools({ readOnly: true, tools: undefined }).map((t) => t.name)).toEqual([
      "get_current_user",
      "search_users",
      "get_user",
      "get_gdpr_user",
      "list_writes",
    ]);
    for (const t of ALL_TOOLS)
      expect(t.annotations, t.name).toEqual(
        t.name === "list_writes"
          ? // reads only this server's own audit log: a closed world
            { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false }
          : t.name.startsWith("get_") || t.name.startsWith("search_")
            ? { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true }
            : { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
      );
  });

  it("the registry serves every tool of the catalog, in its order, with the catalog's kind and provider", () => {
    expect(ALL_TOOLS.map((t) => t.name)).toEqual(TOOL_NAMES);
    for (const t of ALL_TOOLS) expect({ kind: t.kind, provider: t.provider }).toEqual(TOOL_CATALOG[t.name]);
  });
});

import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
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

  it("keeps what the model reads (names, descriptions, input schemas) within 16 KB for the seven platform tools, 3 KB for the two undo tools", () => {
    const read = toolListing(ALL_TOOLS).map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema }));
    const undo = new Set(["list_writes", "revert_write"]);
    const size = (list: typeof read) => Buffer.byteLength(JSON.stringify(list));
    expect(size(read.filter((t) => !undo.has(t.name)))).toBeLessThanOrEqual(16 * 1024);
    expect(size(read.filter((t) => undo.has(t.name)))).toBeLessThan(3 * 1024);
    // No schema carries a regex that only restates a format (zod writes a 400-character one for date-time).
    expect(JSON.stringify(read)).not.toMatch(/"format":"date-time","pattern"/);
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

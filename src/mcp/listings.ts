import type { Tool } from "@modelcontextprotocol/server";

/**
 * Every tool's tools/list entry, in catalog order. This computes them from the definitions (zod schemas
 * rendered as JSON Schema); the build (scripts/build.mjs) replaces this module with the entries it
 * computed the same way, so the shipped server answers tools/list without loading the definitions.
 */
export async function toolListings(): Promise<Tool[]> {
  const [{ ALL_TOOLS }, { toolListing }] = await Promise.all([import("../tools/index.js"), import("./listing.js")]);
  return toolListing(ALL_TOOLS);
}

import type { z } from "zod";

/**
 * The one module that reads how a zod schema is built (its definition: kind, inner types, shape). Two
 * pieces of this server walk schemas: the fast path that accepts values without zod's copy (as-is.ts)
 * and the error messages that list the keys allowed at a place (src/mcp/explain.ts). A definition's layout is
 * zod's, not a documented contract, so zod is pinned to an exact version in package.json and
 * test/zod-defs.test.ts fails loudly when an upgrade changes any field read here.
 */
export interface SchemaDef {
  type: string;
  checks?: unknown[];
  innerType?: z.ZodType;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  /** A pipe's input side. */
  in?: z.ZodType;
}

/** The definition of a schema, or undefined for a value that is not one. */
export function defOf(schema: unknown): SchemaDef | undefined {
  if (schema === null || typeof schema !== "object" || !("def" in schema)) return undefined;
  const def = (schema as { def: unknown }).def;
  return def !== null && typeof def === "object" && typeof (def as { type?: unknown }).type === "string" ? (def as SchemaDef) : undefined;
}

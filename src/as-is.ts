import type { z } from "zod";

/**
 * Validating an upstream body with zod builds a full copy of it (a new object per object, a result
 * record per field), which is most of what a read call allocates. For schemas without transforms,
 * defaults or refinements, a body that passes comes out equal to what went in, so the copy buys
 * nothing. `parsesAsIs` checks a value against such a schema without allocating; when it says yes,
 * `schema.safeParse(value)` would succeed and return a value deeply equal to `value` (a property test
 * holds it to that). When it says no, or the schema has parts it does not model, the caller parses
 * with zod as usual, which also gives the precise error.
 */
export function parsesAsIs(schema: z.ZodType, value: unknown): boolean {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = compile(schema);
    compiled.set(schema, check);
  }
  return check?.(value) === true;
}

type Check = (value: unknown) => boolean;

const compiled = new WeakMap<z.ZodType, Check | null>();

interface Def {
  type: string;
  checks?: unknown[];
  innerType?: z.ZodType;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A check for the schema, or null when the schema could change or refine what it parses. */
function compile(schema: z.ZodType): Check | null {
  const def = defOf(schema);
  if (def.checks?.length) return null;
  switch (def.type) {
    case "string":
      return (v) => typeof v === "string";
    case "number":
      return (v) => typeof v === "number" && Number.isFinite(v);
    case "boolean":
      return (v) => typeof v === "boolean";
    case "unknown":
    case "any":
      return () => true;
    case "optional":
    case "nullable": {
      const inner = def.innerType && compile(def.innerType);
      if (!inner) return null;
      return def.type === "optional" ? (v) => v === undefined || inner(v) : (v) => v === null || inner(v);
    }
    case "array": {
      const element = def.element && compile(def.element);
      if (!element) return null;
      return (v) => {
        if (!Array.isArray(v)) return false;
        for (let i = 0; i < v.length; i++) if (!element(v[i])) return false;
        return true;
      };
    }
    case "object":
      return compileObject(def);
    case "record": {
      const key = def.keyType && defOf(def.keyType);
      const value = def.valueType && compile(def.valueType);
      if (!value || key?.type !== "string" || key.checks?.length) return null;
      return (v) => {
        if (!isObject(v) || Object.getPrototypeOf(v) !== Object.prototype) return false;
        if (Object.hasOwn(v, "__proto__")) return false;
        for (const k in v) if (Object.hasOwn(v, k) && !value(v[k])) return false;
        return true;
      };
    }
    case "union": {
      const options = (def.options ?? []).map(compile);
      if (options.length === 0 || options.some((o) => o === null)) return null;
      const checks = options as Check[];
      return (v) => {
        for (const check of checks) if (check(v)) return true;
        return false;
      };
    }
    default:
      // pipe, transform, default, catch, literal, enum, date...: not modelled, so zod decides.
      return null;
  }
}

function compileObject(def: Def): Check | null {
  const keys = Object.keys(def.shape ?? {});
  const fields: Array<{ key: string; check: Check; optional: boolean }> = [];
  for (const key of keys) {
    const field = (def.shape as Record<string, z.ZodType>)[key] as z.ZodType;
    const check = compile(field);
    if (!check || key === "__proto__") return null;
    fields.push({ key, check, optional: defOf(field).type === "optional" });
  }
  // A loose object keeps unknown keys; a plain or strict one drops or refuses them, so then a value
  // with unknown keys does not parse to itself.
  const catchall = def.catchall ? defOf(def.catchall).type : undefined;
  if (catchall !== undefined && catchall !== "unknown") {
    if (catchall !== "never") return null;
  }
  const keepsUnknown = catchall === "unknown";
  const known = new Set(keys);
  return (v) => {
    if (!isObject(v)) return false;
    for (const field of fields) {
      if (Object.hasOwn(v, field.key)) {
        if (!field.check(v[field.key])) return false;
      } else if (!field.optional) {
        return false;
      }
    }
    // JSON.parse makes a "__proto__" key an own property, which zod would drop.
    if (Object.hasOwn(v, "__proto__")) return false;
    if (keepsUnknown) return true;
    for (const k in v) if (Object.hasOwn(v, k) && !known.has(k)) return false;
    return true;
  };
}

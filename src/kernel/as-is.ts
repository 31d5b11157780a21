import type { z } from "zod";
import { defOf as readDef, type SchemaDef } from "./zod-defs.js";

/**
 * Validating an upstream body with zod builds a full copy of it (a new object per object, a result
 * record per field), which is most of what a read call allocates. For schemas without transforms,
 * defaults or refinements, a body that passes comes out equal to what went in, so the copy buys
 * nothing. `parsesAsIs` checks a value against such a schema without allocating; when it says yes,
 * `schema.safeParse(value)` would succeed and return a value deeply equal to `value` (a property test
 * holds it to that). When it says no, or the schema has parts it does not model, the caller parses
 * with zod as usual, which also gives the precise error. Values are expected as JSON.parse makes them
 * (plain objects of enumerable own properties), which upstream bodies and call arguments are.
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

/** The definition of a schema this module models (zod-defs.ts reads it; an unknown one is declined). */
const defOf = (schema: z.ZodType): SchemaDef => readDef(schema) ?? { type: "unknown-to-this-server" };

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

function compileObject(def: SchemaDef): Check | null {
  const checks = new Map<string, { check: Check; required: boolean }>();
  let required = 0;
  for (const [key, field] of Object.entries(def.shape ?? {})) {
    const check = compile(field);
    if (!check || key === "__proto__") return null;
    // zod reports a missing non-optional field even when its schema would take undefined.
    const isRequired = defOf(field).type !== "optional";
    checks.set(key, { check, required: isRequired });
    if (isRequired) required += 1;
  }
  // A loose object keeps unknown keys; a plain or strict one drops or refuses them, so then a value
  // with unknown keys does not parse to itself.
  const catchall = def.catchall ? defOf(def.catchall).type : undefined;
  if (catchall !== undefined && catchall !== "unknown" && catchall !== "never") return null;
  const keepsUnknown = catchall === "unknown";
  // Walks the value's keys rather than the schema's: a body carries a few of many optional fields,
  // and looking up each absent one costs more than the rest of the check.
  return (v) => {
    if (!isObject(v) || Object.getPrototypeOf(v) !== Object.prototype) return false;
    let seen = 0;
    for (const k in v) {
      // JSON.parse makes a "__proto__" key an own property, which zod would drop.
      if (k === "__proto__") return false;
      const field = checks.get(k);
      if (field === undefined) {
        if (keepsUnknown) continue;
        return false;
      }
      if (!field.check(v[k])) return false;
      if (field.required) seen += 1;
    }
    return seen === required;
  };
}

/**
 * `parsesAsIs` lets a response or a call's arguments skip zod's copy. It must never say yes to a value
 * that zod would refuse or change: these properties hold it to that for every upstream response
 * schema, every tool's arguments, and schema kinds it must decline (transforms, refinements,
 * stripping and strict objects).
 */
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { LcRoles, LcUser } from "../src/client/leadconnector.js";
import { LeadpingUser, TrustedFormCertificate, UserCompliance } from "../src/client/leadping.js";
import { TwoSmsUser } from "../src/client/twosms.js";
import { parsesAsIs } from "../src/kernel/as-is.js";
import { SANDBOX_CREDENTIALS, startSandbox } from "../src/sandbox/index.js";
import { ALL_TOOLS } from "../src/tools/index.js";

const RUNS = Number(process.env.FC_RUNS ?? 120) * 4;

type Def = {
  type: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  options?: z.ZodType[];
};
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Values that follow the schema, mostly, with stray keys, wrong types and odd keys mixed in. */
function near(schema: z.ZodType, depth = 0): fc.Arbitrary<unknown> {
  const def = defOf(schema);
  const noise = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));
  const exact = ((): fc.Arbitrary<unknown> => {
    switch (def.type) {
      case "string":
        return fc.string({ maxLength: 12 });
      case "number":
        return fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
      case "boolean":
        return fc.boolean();
      case "unknown":
      case "any":
        return fc.jsonValue({ maxDepth: 2 });
      case "optional":
        return fc.oneof(fc.constant(undefined), near(def.innerType as z.ZodType, depth));
      case "nullable":
        return fc.oneof(fc.constant(null), near(def.innerType as z.ZodType, depth));
      case "array":
        return fc.array(near(def.element as z.ZodType, depth + 1), { maxLength: 3 });
      case "record":
        return fc.dictionary(fc.string({ maxLength: 6 }), near(def.valueType as z.ZodType, depth + 1), { maxKeys: 3 });
      case "union":
        return fc.oneof(...(def.options ?? []).map((o) => near(o, depth)));
      case "pipe":
        return fc.oneof(fc.string({ maxLength: 12 }), fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }), fc.constant(null));
      case "object": {
        const shape = def.shape ?? {};
        const fields = Object.fromEntries(Object.keys(shape).map((k) => [k, near(shape[k] as z.ZodType, depth + 1)]));
        return fc
          .tuple(
            fc.record(fields, { requiredKeys: [] }),
            fc.dictionary(fc.constantFrom("extra", "__proto__", "constructor", "toString", "x"), fc.jsonValue({ maxDepth: 1 }), {
              maxKeys: 2,
            }),
          )
          .map(([known, extra]) => {
            // JSON.parse makes `__proto__` an own key, so build the value the same way.
            const out = JSON.parse(JSON.stringify(known)) as Record<string, unknown>;
            for (const [k, v] of Object.entries(extra))
              Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
            return out;
          });
      }
      default:
        return fc.jsonValue({ maxDepth: 2 });
    }
  })();
  return depth > 3 ? exact : fc.oneof({ weight: 6, arbitrary: exact }, { weight: 1, arbitrary: noise });
}

/** Whether zod accepts the value and returns one deeply equal to it. */
function zodKeepsAsIs(schema: z.ZodType, value: unknown): boolean {
  const parsed = schema.safeParse(value);
  return parsed.success && isDeepStrictEqual(parsed.data, value);
}

const SCHEMAS: Record<string, z.ZodType> = {
  LeadpingUser,
  UserCompliance,
  TrustedFormCertificate,
  LcUser,
  LcRoles,
  TwoSmsUser,
  plainObject: z.object({ a: z.string(), b: z.number().nullish() }),
  strictObject: z.strictObject({ a: z.string().optional() }),
  record: z.record(z.string(), z.union([z.number(), z.string()])),
  refined: z.looseObject({ a: z.string().min(2), b: z.array(z.number()).max(1).nullish() }),
  transformed: z.looseObject({ a: z.string().transform((s) => s.trim()) }),
  defaulted: z.looseObject({ a: z.string().default("x") }),
  // Tool arguments take the same shortcut.
  ...Object.fromEntries(ALL_TOOLS.map((t) => [`${t.name} arguments`, t.input])),
};

describe("parsesAsIs", () => {
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`${name}: says yes only when zod accepts the value and returns it unchanged`, () => {
      fc.assert(
        fc.property(near(schema), (value) => {
          if (parsesAsIs(schema, value)) expect(zodKeepsAsIs(schema, value)).toBe(true);
        }),
        { numRuns: RUNS },
      );
    });
  }

  it("says yes to every well-formed LeadpingUser and TwoSmsUser body, so the fast path is taken", () => {
    for (const schema of [LeadpingUser, TwoSmsUser]) {
      fc.assert(
        fc.property(near(schema), (value) => {
          const plain = JSON.parse(JSON.stringify(value ?? null));
          if (zodKeepsAsIs(schema, plain) && !JSON.stringify(plain).includes('"__proto__"')) expect(parsesAsIs(schema, plain)).toBe(true);
        }),
        { numRuns: RUNS },
      );
    }
  });

  it("says yes to the documented Leadping bodies, both the current and the legacy shape", async () => {
    const sandbox = await startSandbox();
    try {
      for (const token of [SANDBOX_CREDENTIALS.leadpingToken, SANDBOX_CREDENTIALS.leadpingLegacyToken]) {
        const res = await fetch(`${sandbox.baseUrls.leadping}/users/me`, { headers: { authorization: `Bearer ${token}` } });
        const body = await res.json();
        expect(zodKeepsAsIs(LeadpingUser, body)).toBe(true);
        expect(parsesAsIs(LeadpingUser, body)).toBe(true);
      }
    } finally {
      await sandbox.close();
    }
  });

  it("declines what zod would change: stray keys of a plain object, a __proto__ key, a transform", () => {
    expect(parsesAsIs(SCHEMAS.plainObject as z.ZodType, { a: "x", stray: 1 })).toBe(false);
    expect(parsesAsIs(SCHEMAS.plainObject as z.ZodType, { a: "x" })).toBe(true);
    expect(parsesAsIs(LeadpingUser, JSON.parse('{"id":"u1","__proto__":{"admin":true}}'))).toBe(false);
    expect(parsesAsIs(LeadpingUser, JSON.parse('{"compliance":{"__proto__":{}}}'))).toBe(false);
    expect(parsesAsIs(SCHEMAS.transformed as z.ZodType, { a: "x" })).toBe(false);
    expect(parsesAsIs(SCHEMAS.refined as z.ZodType, { a: "long enough" })).toBe(false);
    expect(parsesAsIs(LeadpingUser, { id: 5 })).toBe(false);
    expect(parsesAsIs(LeadpingUser, [])).toBe(false);
    expect(parsesAsIs(LeadpingUser, null)).toBe(false);
  });
});

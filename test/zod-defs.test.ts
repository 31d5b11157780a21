import { describe, expect, it } from "vitest";
import { z } from "zod";
import pkg from "../package.json" with { type: "json" };
import { defOf } from "../src/kernel/zod-defs.js";

// zod's schema definitions are read in one place (src/kernel/zod-defs.ts). If an upgrade changes any field read
// there, this fails here, loudly, instead of the fast path or an error message going quietly wrong.
describe("the zod definitions this server reads", () => {
  it("zod is pinned to an exact version", () => {
    expect(pkg.devDependencies.zod).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("keeps every field it reads, for every kind of schema the tools use", () => {
    const inner = z.string();
    expect(defOf(inner)).toMatchObject({ type: "string" });
    expect(defOf(z.string().min(1))?.checks).toHaveLength(1);
    expect(defOf(z.number())?.type).toBe("number");
    expect(defOf(z.boolean())?.type).toBe("boolean");
    expect(defOf(z.unknown())?.type).toBe("unknown");
    expect(defOf(inner.optional())).toMatchObject({ type: "optional", innerType: inner });
    expect(defOf(inner.nullable())).toMatchObject({ type: "nullable", innerType: inner });
    expect(defOf(inner.default("x"))).toMatchObject({ type: "default", innerType: inner });
    expect(defOf(inner.readonly())).toMatchObject({ type: "readonly", innerType: inner });
    expect(defOf(z.array(inner))).toMatchObject({ type: "array", element: inner });
    expect(defOf(z.record(inner, z.number()))).toMatchObject({ type: "record", keyType: inner });
    expect(defOf(z.record(inner, z.number()))?.valueType).toBeDefined();
    const shape = { a: inner };
    expect(defOf(z.object(shape))).toMatchObject({ type: "object", shape });
    expect(defOf(z.strictObject(shape))?.catchall).toBeDefined();
    expect(defOf(z.looseObject(shape))?.catchall).toBeDefined();
    expect(defOf(z.union([inner, z.number()]))?.options).toHaveLength(2);
    expect(defOf(inner.transform((s) => s.length))).toMatchObject({ type: "pipe", in: inner });
    expect(defOf(z.enum(["a", "b"]))?.type).toBe("enum");
    expect(defOf(z.literal("a"))?.type).toBe("literal");
    expect(defOf("not a schema")).toBeUndefined();
  });
});

import { z } from "zod";
import type { Provider } from "../client/errors.js";
import { executeWrite, type RevertibleWrite, type WriteArgs, type WriteContract } from "../writes/pipeline.js";
import { TOOL_CATALOG, type WriteToolName } from "./catalog.js";
import { defineTool, type ToolDefinition, type ToolSpec, writeResultFields } from "./define.js";

/** Fields every write result carries besides the tool's own: the base ones plus preview, confirmation, audit. */
export const writeResult = {
  ...writeResultFields,
  previewToken: z
    .string()
    .optional()
    .describe("Dry runs only: pass it with the same arguments to write exactly this change; refused if the record moved since"),
  confirmation: z
    .enum(["accepted", "declined", "cancelled", "timeout", "not_asked", "unavailable"])
    .describe(
      "Whether a person confirmed: accepted, declined, cancelled, timeout; not_asked (not sensitive, dry run, or confirmation off); unavailable (the host cannot ask)",
    ),
  auditId: z.string().optional().describe("Id of this write in the audit log"),
};

/**
 * A write tool: its contract, plus the schema fields and handler every write tool shares.
 * `previewToken` and `dryRun` are added to the input here.
 */
export function defineWriteTool<I extends z.ZodObject, V extends z.ZodRawShape, Rec>(
  name: WriteToolName,
  def: Omit<ToolSpec<I, z.ZodObject>, "handler" | "output" | "input"> & {
    input: I;
    view: V;
    write: WriteContract<z.output<I>, Rec>;
  },
): ToolDefinition & { revertible: RevertibleWrite } {
  const { write, view, input, ...rest } = def;
  const provider: Provider = TOOL_CATALOG[name].provider;
  const full = input.extend({
    dryRun: z.boolean().default(false).describe("true: preview only, with a previewToken"),
    previewToken: z.string().max(200_000).optional().describe("From a dry run: write only if nothing moved since"),
  });
  // The shared fields and the tool's view: typed as any object schema here, where the tool's types meet
  // the pipeline's (WriteResult), and exactly in the listing's JSON Schema.
  const output: z.ZodObject = z.object({ ...writeResult, ...view });
  const tool = defineTool(name, {
    ...rest,
    input: full,
    output,
    // The low-level Server does not check a result against the output schema: the tests do (the SDK
    // client validates structuredContent, and test/output-schemas.test.ts feeds drifted upstream records).
    // `full` is `input` with dryRun and previewToken: zod cannot spell that type for a generic input.
    handler: (args, ctx, deps) => executeWrite(name, provider, write, args as WriteArgs<z.output<I>>, ctx, deps),
  });
  const refusals = (args: unknown) => {
    const checked = input.safeParse(args);
    return checked.success ? [] : checked.error.issues.map((i) => `${i.path.join(".") || "(arguments)"}: ${i.message}`);
  };
  return Object.assign(tool, { revertible: { tool: name, provider, contract: write as WriteContract<unknown, unknown>, refusals } });
}

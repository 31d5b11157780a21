import { z } from "zod";
import type { WriteHistory } from "../audit/history.js";
import type { CallContext } from "../client/call-context.js";
import type { Provider, UpstreamErrorCode } from "../client/errors.js";
import { InputError } from "../client/errors.js";
import { hasHiddenCharacters } from "../kernel/redact.js";
import type { Config } from "../settings/config.js";
import type { PendingQuestion } from "../writes/confirm.js";
import type { WriteDeps } from "../writes/pipeline.js";
import { annotationsOf, TOOL_CATALOG, type ToolAnnotations, type ToolKind, type ToolName } from "./catalog.js";

/**
 * What a tool's handler is given, one object for every tool: settings, clients, logger, the caller
 * (tenant, actor) and the audit log to read. A write tool's handler is also given the write path's
 * services, present by type (`WriteToolDeps`): the server builds them for every tool of kind write.
 */
export interface ToolDeps extends Omit<WriteDeps, "writes"> {
  /** The audit log as list_writes and revert_write read it; absent when the log is off. */
  history?: WriteHistory | undefined;
}
export interface WriteToolDeps extends ToolDeps, WriteDeps {}

/** The dependencies a tool of this name gets, by its kind in the catalog. */
export type DepsOf<N extends ToolName> = (typeof TOOL_CATALOG)[N]["kind"] extends "write" ? WriteToolDeps : ToolDeps;

/** What a tool file writes: its contract. Its name's kind and provider, and so its annotations, come from the catalog. */
export interface ToolSpec<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType, D extends ToolDeps = ToolDeps> {
  title: string;
  description: string;
  input: I;
  output: O;
  /**
   * Arguments a caller may plausibly send that this tool refuses on purpose, each with the reason.
   * Checked before schema validation so the reason, not a bare "unknown argument", reaches the model.
   */
  refusedFields?: Record<string, string>;
  /** Tool-specific next steps for upstream errors, overriding the provider's general advice. */
  errorHints?: Partial<Record<UpstreamErrorCode, string>>;
  /** What the tool answers: its output, or (a write) the question a person must answer first (MCP 2026-07-28). */
  handler(args: z.output<I>, ctx: CallContext, deps: D): Promise<z.input<O> | PendingQuestion>;
}

/** A tool as the server serves it: its spec, plus what the catalog says of its name. */
export interface ToolDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> extends ToolSpec<I, O> {
  name: ToolName;
  kind: ToolKind;
  /** The upstream the tool calls; undefined for a tool over this server's own audit log. */
  provider: Provider | undefined;
  annotations: ToolAnnotations;
}

/** A free-text argument: trimmed, 1..max characters, no control or invisible bidi characters. */
export function plainText(max: number) {
  return z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((v) => !hasHiddenCharacters(v), {
      message: "must not contain control characters or invisible/bidi formatting characters (such as U+202E or U+200B); send plain text",
    });
}

/** A tool: its spec, typed from its schemas, with its name's kind, provider and annotations from the catalog. */
export function defineTool<N extends ToolName, I extends z.ZodType, O extends z.ZodType>(
  name: N,
  spec: ToolSpec<I, O, DepsOf<N>>,
): ToolDefinition<I, O> {
  const { kind, provider } = TOOL_CATALOG[name];
  // A definition takes any tool's deps; the server gives each tool those of its kind (toolDeps in src/mcp/server.ts).
  return { ...spec, name, kind, provider, annotations: annotationsOf(name) };
}

const ChangeSchema = z.object({
  field: z.string().describe("Name of the field, as in this tool's input"),
  before: z.unknown().describe("Value before the call (null when unset)"),
  after: z.unknown().describe("Value after the call (or that a dry run would write)"),
});

/** Fields every write tool's result shares, so agents read all three the same way. */
export const writeResultFields = {
  applied: z
    .boolean()
    .describe("True when the change was written upstream; false for a dry run, when nothing needed changing, or when the person declined"),
  dryRun: z.boolean().describe("True when this was a dry run: nothing was written"),
  changed: z.array(ChangeSchema).describe("Each field whose value differs (or would differ) from what the upstream held"),
  message: z.string().describe("One-sentence summary of what happened"),
  warnings: z
    .array(z.string())
    .optional()
    .describe("Things the caller should know: destructive semantics used, values the upstream stored differently"),
  retries: z.array(z.string()).optional().describe("Requests that were retried during this call, and why"),
};

/**
 * Passwords and PINs travel through the model's context: refused unless the operator opted in. `where`
 * says where else the person can change them. A refused value is never treated as a secret (it is
 * nowhere but in the refusal's field name); an accepted one is kept by the call that sends it.
 */
export function guardCredentials(config: Pick<Config, "allowCredentialChanges">, given: Array<[string, unknown]>, where: string): void {
  if (given.length === 0 || config.allowCredentialChanges) return;
  throw new InputError(
    given.map(([field]) => ({
      field,
      message: `credential changes are disabled on this server. Set USERS_MCP_ALLOW_CREDENTIAL_CHANGES=true in its environment to allow them, or change it in ${where}`,
    })),
  );
}

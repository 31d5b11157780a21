import { z } from "zod";
import type { WriteHistory } from "../audit/history.js";
import { RefusalError } from "../kernel/refusal.js";
import { WRITE_TOOL_NAMES, type WriteToolName } from "./catalog.js";
import { defineTool, type ToolDeps } from "./define.js";

/** The audit log as these tools read it; an error naming the setting when it is off. */
export function historyOf(deps: ToolDeps): WriteHistory {
  if (!deps.history)
    throw new RefusalError(
      "The audit log is off on this server (USERS_MCP_AUDIT_LOG=off), so no write was recorded and none can be listed or undone. Ask the person who runs the server to set USERS_MCP_AUDIT_LOG to a path (or remove it for the default).",
    );
  return deps.history;
}

const Entry = z.object({
  auditId: z.string().describe("Pass to revert_write to undo this write"),
  time: z.string().describe("When it was recorded (ISO 8601, UTC)"),
  tool: z.string(),
  provider: z.string(),
  target: z.string().describe('The record: a user id, or "me" for the Leadping user'),
  outcome: z.enum(["applied", "failed", "unknown", "declined", "conflict", "unchanged"]),
  confirmation: z.string(),
  by: z
    .object({ sub: z.string(), email: z.string().optional(), name: z.string().optional(), client_id: z.string().optional() })
    .optional()
    .describe("Who made the write: the signed-in person (OAuth), when the server requires sign-in"),
  changes: z.array(z.object({ field: z.string(), before: z.unknown(), after: z.unknown() })),
  revertOf: z.string().optional().describe("Set on an undo: the auditId it undid"),
  revertedBy: z.string().optional().describe("Set when this write was undone: the undo's auditId"),
});

export const listWrites = defineTool("list_writes", {
  title: "List recent writes (audit log)",
  description: [
    "Writes made through this server, newest first, from its audit log: tool, record, outcome, confirmation,",
    "each field before and after. Undo one with revert_write and its auditId.",
  ].join(" "),
  input: z.strictObject({
    target: z.string().trim().min(1).max(200).optional().describe('Only writes to this record id ("me": Leadping)'),
    tool: z
      .enum(WRITE_TOOL_NAMES as [WriteToolName, ...WriteToolName[]])
      .optional()
      .describe("Only writes by this tool"),
    since: z
      .string()
      .max(40)
      .refine((v) => !Number.isNaN(Date.parse(v)), { message: "must be an ISO 8601 date or date-time, e.g. 2026-11-29T15:00:00Z" })
      .optional()
      .describe("Only writes since this ISO 8601 time"),
    limit: z.number().int().min(1).max(100).default(20).describe("How many"),
  }),
  output: z.object({ writes: z.array(Entry), count: z.number().describe("How many are listed") }),
  async handler(args, _ctx, deps) {
    const history = historyOf(deps);
    await history.sync();
    const found = await history.query({
      target: args.target,
      tool: args.tool,
      since: args.since !== undefined ? Date.parse(args.since) : undefined,
      limit: args.limit,
      tenant: deps.tenant,
      sandbox: deps.config.sandbox,
    });
    const changes = await history.changes(found);
    const writes = found.map((w, i) => ({
      auditId: w.id,
      time: w.time,
      tool: w.tool,
      provider: w.provider,
      target: w.target,
      outcome: w.outcome,
      confirmation: w.confirmation,
      ...(w.actor ? { by: w.actor } : {}),
      changes: changes[i] ?? [],
      ...(w.revertOf ? { revertOf: w.revertOf } : {}),
      ...(w.revertedBy ? { revertedBy: w.revertedBy } : {}),
    }));
    return { writes, count: writes.length };
  },
});

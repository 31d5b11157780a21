import { z } from "zod";
import type { IndexedWrite, WriteHistory } from "../audit/history.js";
import type { AuditRecord } from "../audit/log.js";
import { RefusalError } from "../kernel/refusal.js";
import { canonical } from "../writes/diff.js";
import { executeWrite, type RevertibleWrite, type WriteArgs, type WriteContract, type WritePlan } from "../writes/pipeline.js";
import { defineTool, type ToolDeps } from "./define.js";
import { writeResult } from "./define-write.js";
import { historyOf } from "./list-writes.js";
import { updateCompliance } from "./update-compliance.js";
import { updateGdpr } from "./update-gdpr.js";
import { updateUser } from "./update-user.js";

/** The write tools whose writes can be undone (and read back by reconcile), by name. */
export const REVERTIBLE: ReadonlyMap<string, RevertibleWrite> = new Map<string, RevertibleWrite>(
  [updateCompliance, updateUser, updateGdpr].map((t) => [t.name, t.revertible]),
);

type Change = AuditRecord["changes"][number];
interface RevertArgs {
  auditId: string;
  skipCredentials: boolean;
}

/** A change whose earlier value was never stored: a credential, or a field the upstream never returns. */
function unrestorable(c: Change, contract: WriteContract<unknown, unknown>): boolean {
  if (contract.credentialFields?.includes(c.field) || c.before === "[redacted]") return true;
  return typeof c.before === "string" && c.before.startsWith("(not readable");
}

/** What identifies a list entry across edits: a certificate by its url or id, anything else by its value. */
function entryKey(v: unknown): string {
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (typeof o.url === "string") return `url:${o.url}`;
    if (typeof o.id === "string") return `id:${o.id}`;
  }
  return canonical(v);
}

const has = (list: readonly unknown[], v: unknown) => list.some((e) => canonical(e) === canonical(v));
const show = (v: unknown) => {
  const s = JSON.stringify(v ?? null);
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
};

/**
 * The inverse of a list edit on the list as it is now: entries the write added are taken out, entries it
 * removed are put back, and whatever others changed since stays. An entry that moved again (a certificate
 * the write added, changed since) is a conflict.
 */
function invertList(c: Change, now: unknown[], moved: string[]): unknown[] {
  const before = Array.isArray(c.before) ? c.before : [];
  const after = Array.isArray(c.after) ? c.after : [];
  const added = after.filter((v) => !has(before, v));
  const removed = before.filter((v) => !has(after, v));
  const changedSince = (v: unknown) => !has(now, v) && now.some((e) => entryKey(e) === entryKey(v));
  for (const v of [...added, ...removed]) if (changedSince(v)) moved.push(`- ${c.field}: entry ${show(v)} was changed since the write`);
  const out = now.filter((e) => !has(added, e));
  for (const v of removed) if (!has(out, v) && !changedSince(v)) out.push(v);
  return out;
}

/** The value a field goes back to, or undefined when it already holds it; a field that moved is noted in `moved`. */
function restore(c: Change, stored: Record<string, unknown>, moved: string[]): unknown {
  const now = stored[c.field] ?? null;
  if (Array.isArray(c.before) || Array.isArray(c.after)) {
    const list = invertList(c, Array.isArray(now) ? now : [], moved);
    return canonical(list) === canonical(now) ? undefined : list;
  }
  // An object of flags (LeadConnector permissions): only the flags the write set are compared.
  const seen =
    c.after !== null && typeof c.after === "object" && now !== null && typeof now === "object"
      ? Object.fromEntries(Object.keys(c.after).map((k) => [k, (now as Record<string, unknown>)[k] ?? null]))
      : now;
  if (canonical(seen) === canonical(c.before ?? null)) return undefined;
  if (canonical(seen) !== canonical(c.after ?? null)) {
    moved.push(`- ${c.field}: the write left ${show(c.after)}, now ${show(seen)}`);
    return undefined;
  }
  return c.before;
}

/** The undone write's contract, planned from the record as it is now: what puts back what the write changed. */
function undoContract(
  w: IndexedWrite,
  changes: Change[],
  skipped: string[],
  { contract, tool, refusals }: RevertibleWrite,
  history: WriteHistory,
  deps: ToolDeps,
): WriteContract<RevertArgs, unknown> {
  const asBefore = contract.revertArgs(w.target, Object.fromEntries(changes.map((c) => [c.field, c.before])));
  let undoneBy: string | undefined;
  return {
    ...contract,
    target: (_args, d) => contract.target(asBefore, d),
    async read(ctx, _args, d) {
      // Inside the record's turn: an undo that finished while this one queued is seen here.
      await history.sync();
      undoneBy = (await history.find(w.id, deps.tenant, deps.config.sandbox))?.revertedBy;
      return contract.read(ctx, asBefore, d);
    },
    plan(_args, current, d): WritePlan<unknown> {
      if (undoneBy !== undefined) return nothingToSend(alreadyUndone(w, undoneBy));
      const stored = contract.stored(current);
      const moved: string[] = [];
      const values: Record<string, unknown> = {};
      for (const c of changes) {
        const v = restore(c, stored, moved);
        if (v !== undefined) values[c.field] = v;
      }
      if (moved.length)
        throw new RefusalError(
          [
            `Conflict: the record changed since write ${w.id}, so nothing was written.`,
            ...moved,
            "Read the record, and change those fields with the write tool if they should still go back.",
          ].join("\n"),
        );
      const left = skipped.length ? ` Left as they are (they cannot be restored): ${skipped.join(", ")}.` : "";
      if (Object.keys(values).length === 0)
        return nothingToSend(`Nothing to undo: the record already holds the values from before write ${w.id}. Nothing was written.${left}`);
      const args = contract.revertArgs(w.target, values);
      // The values come from the audit log, which is data, not a checked call: each is held to what the
      // tool itself accepts, so a record rewritten in the table cannot send what a direct call could not.
      const refused = refusals(args);
      if (refused.length)
        throw new RefusalError(
          [
            `Refused: write ${w.id}'s earlier values are not values ${tool} accepts, so nothing was sent. Its audit record may have been altered since it was written; check it with users-mcp audit.`,
            ...refused.map((r) => `- ${r}`),
          ].join("\n"),
        );
      const plan = contract.plan(args, current, d);
      return { ...plan, note: `This undoes write ${w.id} (${w.tool} at ${w.time}).${left}` };
    },
    view: (record) => ({ record: contract.view(record) }),
    // The undo's own records name the undone write's tool, so undoing an undo goes through that tool.
    revertArgs: () => ({ auditId: w.id, skipCredentials: false }),
  };
}

/**
 * A write already undone is a plain result, not an error, as is one whose fields already hold their earlier
 * values: either way the record is where the caller wants it, and revert_write is idempotent, so a second
 * call for the same write is an answer ("nothing to do"), not a failure an agent should retry or report.
 */
const alreadyUndone = (w: IndexedWrite, by: string) =>
  `Nothing to undo: write ${w.id} was already undone by write ${by}. Nothing was written.`;

const nothingToSend = (message: string): WritePlan<unknown> => ({
  changed: [],
  warnings: [],
  seen: {},
  unchangedMessage: message,
  send: () => Promise.reject(new Error("nothing to send")),
});

export const revertWrite = defineTool("revert_write", {
  title: "Undo a write (from the audit log)",
  description: [
    "Undoes one applied write (auditId from list_writes) as a new write: fields go back only where the record",
    "still holds what the write left, and list entries it added or removed are put back, keeping later edits.",
    "dryRun: true previews.",
  ].join(" "),
  input: z.strictObject({
    auditId: z.string().trim().min(1).max(100).describe("The write's auditId"),
    skipCredentials: z.boolean().default(false).describe("true: undo a write that changed a password or PIN, leaving those"),
    dryRun: z.boolean().default(false).describe("true: preview only, with a previewToken"),
    previewToken: z.string().max(200_000).optional().describe("From the dry run: write only if the record has not moved"),
  }),
  output: z.object({
    ...writeResult,
    record: z.record(z.string(), z.unknown()).optional().describe("The record after the undo, as the write tool shows it"),
  }),
  async handler(args, ctx, deps) {
    const history = historyOf(deps);
    await history.sync();
    const w = await history.find(args.auditId, deps.tenant, deps.config.sandbox);
    if (!w)
      throw new RefusalError(
        `No write with id ${JSON.stringify(args.auditId)} in this server's audit log. list_writes shows recent writes and their ids.`,
      );
    const revertible = REVERTIBLE.get(w.tool);
    if (!revertible) throw new RefusalError(`Write ${w.id} was made by ${w.tool}, which revert_write cannot undo.`);
    if (w.outcome !== "applied")
      throw new RefusalError(`Nothing to undo: write ${w.id} was not applied (outcome: ${w.outcome}). Nothing was written.`);
    if (w.revertedBy)
      return {
        applied: false,
        dryRun: args.dryRun,
        changed: [],
        confirmation: "not_asked" as const,
        message: alreadyUndone(w, w.revertedBy),
      };
    const [changes = []] = await history.changes([w]);
    const blocked = changes.filter((c) => unrestorable(c, revertible.contract));
    const names = blocked.map((c) => c.field).join(", ");
    const where = revertible.contract.credentialsWhere ?? "the platform's own app";
    if (blocked.length === changes.length)
      throw new RefusalError(
        `Write ${w.id} changed only ${names}, which cannot be restored: the earlier value was never stored (credentials are not kept, and some fields the platform never returns). Nothing was written. Set it again in ${where}.`,
      );
    if (blocked.length && !args.skipCredentials)
      throw new RefusalError(
        `Write ${w.id} also changed ${names}, which cannot be restored (the earlier value was never stored). Nothing was written. Call again with skipCredentials: true to undo the other fields and leave ${names} as they are now; set ${names} again in ${where} if needed.`,
      );
    const restorable = changes.filter((c) => !blocked.includes(c));
    const contract = undoContract(
      w,
      restorable,
      blocked.map((c) => c.field),
      revertible,
      history,
      deps,
    );
    const own: WriteArgs<RevertArgs> = {
      auditId: w.id,
      skipCredentials: args.skipCredentials,
      dryRun: args.dryRun,
      ...(args.previewToken !== undefined ? { previewToken: args.previewToken } : {}),
    };
    // The low-level Server does not check a result against the output schema: the tests do.
    return executeWrite("revert_write", revertible.provider, contract, own, ctx, deps, { auditTool: w.tool, revertOf: w.id });
  },
});

import type { AuditOutcome, AuditRecord, AuditSink } from "../audit/log.js";
import { createCallContext } from "../client/call-context.js";
import { isConfigured, type ProviderName } from "../settings/providers.js";
import { canonical } from "./diff.js";
import type { ReadDeps, RevertibleWrite } from "./pipeline.js";

/**
 * Reconcile: a write whose process died between its intent and its outcome (or whose outcome was
 * "unknown": the upstream did not answer in time) is settled by reading the record. It holds what the
 * write sent → `applied`; it holds what was there before → `failed` (not applied); neither, or the
 * record cannot be read (a credential's change, a caller's credentials the server does not keep) → it
 * stays `unknown`, with the reason. Each resolution is a new outcome record with `reconciled: true`;
 * the intent is never changed. list_writes, `users-mcp audit` and revert_write read the newest outcome.
 */

/** Where the writes to settle come from, and where their outcomes go: the file or the table. */
export interface Unsettled {
  /** Intents older than `before` (epoch ms) with no outcome, or only an "unknown" one not reconciled yet; oldest first. */
  intents(before: number): Promise<AuditRecord[]>;
  audit: AuditSink;
}

export interface ReconcileReport {
  applied: number;
  failed: number;
  unknown: number;
  /** Per write left unknown: its id and why. */
  undecided: Array<{ id: string; reason: string }>;
}

/** How long after a call's deadline its write is left alone: an outcome may still be on its way (pipeline's grace). */
const SETTLE_MS = 3_000;

/**
 * Settles every write the store holds in doubt, one after another (upstream reads are cheap and few).
 * `writes` are the tools reconcile can read a record for, by name.
 */
export async function reconcile(store: Unsettled, writes: ReadonlyMap<string, RevertibleWrite>, deps: ReadDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = { applied: 0, failed: 0, unknown: 0, undecided: [] };
  const before = Date.now() - deps.config.timeoutMs - SETTLE_MS;
  for (const intent of await store.intents(before)) {
    // A sandbox's records start afresh with every process, and a provider without credentials here cannot be read:
    // left for a server that can read them, not settled as unknown.
    if (intent.sandbox === true || !isConfigured(deps.config, intent.provider as ProviderName)) continue;
    const { outcome, reason } = await decide(intent, writes.get(intent.tool), deps);
    const record: AuditRecord = {
      ...intent,
      phase: "outcome",
      time: new Date().toISOString(),
      outcome,
      reconciled: true,
      ...(reason ? { error: `reconciled: ${reason}`.slice(0, 300) } : {}),
    };
    await store.audit.append(record, { deadline: Date.now() + 10_000 });
    report[outcome === "applied" ? "applied" : outcome === "failed" ? "failed" : "unknown"]++;
    if (outcome === "unknown") report.undecided.push({ id: intent.id, reason });
  }
  return report;
}

type Change = AuditRecord["changes"][number];

/** What the record says about one write. */
async function decide(
  intent: AuditRecord,
  write: RevertibleWrite | undefined,
  deps: ReadDeps,
): Promise<{ outcome: Extract<AuditOutcome, "applied" | "failed" | "unknown">; reason: string }> {
  if (!write) return { outcome: "unknown", reason: `${intent.tool} writes cannot be read back by reconcile` };
  if (intent.tenant)
    return {
      outcome: "unknown",
      reason: "made with a caller's own credentials, which the server does not keep: the record cannot be read",
    };
  const { contract } = write;
  const readable = intent.changes.filter(
    (c) =>
      !contract.credentialFields?.includes(c.field) &&
      c.before !== "[redacted]" &&
      !(typeof c.before === "string" && c.before.startsWith("(not readable")),
  );
  if (!readable.length)
    return {
      outcome: "unknown",
      reason: `only ${intent.changes.map((c) => c.field).join(", ")} changed, which the record does not show (credentials are never read back)`,
    };
  const ctx = createCallContext(deps.config.timeoutMs);
  let stored: Record<string, unknown>;
  try {
    const args = contract.revertArgs(intent.target, Object.fromEntries(readable.map((c) => [c.field, c.after])));
    stored = contract.stored(await contract.read(ctx, args, deps));
  } catch (err) {
    return {
      outcome: "unknown",
      reason: `the record could not be read (${ctx.scrub(err instanceof Error ? err.message : String(err)).slice(0, 200)})`,
    };
  } finally {
    ctx.dispose();
  }
  const verdicts = readable.map((c) => ({ field: c.field, is: holds(c, stored) }));
  if (verdicts.every((v) => v.is === "after")) return { outcome: "applied", reason: "" };
  if (verdicts.every((v) => v.is === "before"))
    return { outcome: "failed", reason: "the record holds what was there before the write: not applied" };
  const odd = verdicts
    .filter((v) => v.is !== "after")
    .map((v) => `${v.field} ${v.is === "before" ? "holds the earlier value" : "holds neither value (changed since?)"}`);
  return { outcome: "unknown", reason: `the record does not say: ${odd.join("; ")}` };
}

/** Whether a field holds the value the write sent, the one before it, or neither. Lists by the entries the write added and removed. */
function holds(c: Change, stored: Record<string, unknown>): "after" | "before" | "neither" {
  if (!Object.hasOwn(stored, c.field)) return "neither";
  const now = stored[c.field] ?? null;
  if (Array.isArray(c.before) || Array.isArray(c.after)) {
    const list = Array.isArray(now) ? now.map((v) => canonical(v)) : [];
    const before = (Array.isArray(c.before) ? c.before : []).map((v) => canonical(v));
    const after = (Array.isArray(c.after) ? c.after : []).map((v) => canonical(v));
    const added = after.filter((v) => !before.includes(v));
    const removed = before.filter((v) => !after.includes(v));
    if (added.every((v) => list.includes(v)) && removed.every((v) => !list.includes(v))) return "after";
    if (added.every((v) => !list.includes(v)) && removed.every((v) => list.includes(v))) return "before";
    return "neither";
  }
  // An object of flags (LeadConnector permissions): only the flags the write set.
  const seen =
    c.after !== null && typeof c.after === "object" && now !== null && typeof now === "object"
      ? Object.fromEntries(Object.keys(c.after).map((k) => [k, (now as Record<string, unknown>)[k] ?? null]))
      : now;
  if (canonical(seen) === canonical(c.after ?? null)) return "after";
  if (canonical(seen) === canonical(c.before ?? null)) return "before";
  return "neither";
}

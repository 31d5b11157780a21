import { type Actor, type AuditOutcome, type AuditRecord, type AuditSink, type Confirmation, newAuditId } from "../audit/log.js";
import type { CallContext } from "../client/call-context.js";
import { type Provider, UpstreamError } from "../client/errors.js";
import type { Clients } from "../client/index.js";
import type { Logger } from "../kernel/log.js";
import { RefusalError } from "../kernel/refusal.js";
import type { Config } from "../settings/config.js";
import { labelOf } from "../settings/providers.js";
import { type Answer, type Confirmer, PendingQuestion, type Question } from "./confirm.js";
import { type Change, canonical } from "./diff.js";
import type { RecordTurns } from "./lock.js";
import { bindingHash, type PreviewTokens, requestHash } from "./preview.js";

/**
 * The one write path. Every write tool runs the same steps, here:
 *
 *   serialize on the record → read → merge → diff → confirm → audit intent → write → verify → audit outcome
 *
 * A tool file keeps only its contract (schemas, description, merge rules, warnings) as a WriteContract;
 * this module owns the guarantees: parallel writes to one record lose nothing, a preview token binds a
 * write to what the preview saw, a person confirms sensitive changes, and every write is on record
 * before and after it happens. It knows nothing of any one upstream.
 */

/** What the write path and a contract's steps are given: settings, the upstream clients, the logger, the caller, the services. */
/** What reading a record needs: settings, the upstream clients, the logger. */
export type ReadDeps = Pick<WriteDeps, "config" | "clients" | "logger">;

export interface WriteDeps {
  config: Config;
  clients: Clients;
  logger: Logger;
  /** The caller's tenant (a hash of its credentials) in caller-credentials mode: on its writes' records. */
  tenant?: string | undefined;
  /** Who signed in (OAuth): on every audit record of the write. */
  actor?: Actor | undefined;
  /** The write path's services (audit log, preview tokens, the person to ask). */
  writes: WriteServices;
}

/** What the write path needs besides the tool's own dependencies. */
export interface WriteServices {
  audit: AuditSink | undefined;
  /** Writes to one record run one at a time (the runtime's queues). */
  queues: RecordTurns;
  previews: PreviewTokens;
  /** The person behind the host: asked about sensitive changes (the confirmation port). */
  confirmer: Confirmer;
  /** The MCP client, as it named itself at initialize. */
  client: { name?: string | undefined; version?: string | undefined } | undefined;
  /** Told which record the write applies to, once it is read (the MCP layer passes it on to views). */
  named?: ((record: NamedRecord) => void) | undefined;
}

/** The record a write applies to, as a person recognises it: the tool called, the platform, its id and whose it is. */
export interface NamedRecord {
  tool: string;
  provider: Provider;
  id: string;
  name: string;
}

/** What a tool's merge decided: the change, and how to send it. */
export interface WritePlan<Rec> {
  /** Each field that differs, named as in the tool's input; credentials hidden. */
  changed: Change[];
  warnings: string[];
  /** The current value of every field the call asks to change (credentials left out): what a preview binds to. */
  seen: Record<string, unknown>;
  /** The record as it would be after the write, for a dry run's view; the current record when omitted. */
  preview?: Rec;
  /** A sentence added to the message once the write is done ("The password was changed."). */
  note?: string;
  /** The message when nothing needs changing, instead of the usual one. */
  unchangedMessage?: string;
  /** Sends the write. `extra` is merged into the result. */
  send(ctx: CallContext): Promise<{ record: Rec; extra?: Record<string, unknown> }>;
}

export interface WriteContract<Args, Rec> {
  /** The record this call writes, known before anything is read: the credential's account and the record's id. */
  target(args: Args, deps: WriteDeps): { account: string; id: string };
  /** Reads the record; needs only settings and clients, so that reconcile can read one outside a call. */
  read(ctx: CallContext, args: Args, deps: ReadDeps): Promise<Rec>;
  /** Merge and diff; throws InputError for what cannot be sent. */
  plan(args: Args, current: Rec, deps: WriteDeps): WritePlan<Rec>;
  /** Who the record belongs to, in words for the person asked to confirm ("Dana Reyes"). */
  subject(record: Rec): string;
  /** The record's own id, where the target names it otherwise (Leadping's "me"); the target's id when omitted. */
  recordId?(record: Rec): string | undefined;
  /** Stored values by input field name, to check that the upstream kept what was sent (unreadable fields omitted). */
  stored(record: Rec): Record<string, unknown>;
  /** The tool's own part of the result. */
  view(record: Rec): Record<string, unknown>;
  /** Fields whose every change needs a person's confirmation (besides withdrawals, disabling and removals). */
  sensitiveFields?: readonly string[];
  /** Fields that are credentials: never compared, shown or logged. */
  credentialFields?: readonly string[];
  /** Words for fields in the confirmation question ("SMS consent" for acceptedSms). */
  labels?: Readonly<Record<string, string>>;
  /**
   * This tool's arguments that set the given fields (as named in `changed`) to the given values on the
   * record `target`: what revert_write sends through `plan`. Lists are given whole.
   */
  revertArgs(target: string, values: Record<string, unknown>): Args;
  /** Where a person changes a credential this tool cannot restore (revert_write says so). */
  credentialsWhere?: string;
}

/** A write tool's contract with its types erased at this one point: what revert_write works with. */
export interface RevertibleWrite {
  tool: string;
  provider: Provider;
  contract: WriteContract<unknown, unknown>;
  /** What the tool's input schema refuses in these arguments (as a direct call would be refused); empty when none. */
  refusals(args: unknown): string[];
}

/** What an undo adds to the write path: the audit id it undoes, and the tool to record it under. */
export interface WriteOptions {
  /** The tool the audit records name (the undone write's tool); defaults to the tool called. */
  auditTool?: string;
  revertOf?: string;
}

export type WriteArgs<Args> = Args & { dryRun: boolean; previewToken?: string | undefined };

/** One write under way: what every step of the pipeline needs to know about it. */
interface Run<Args, Rec> {
  tool: string;
  provider: Provider;
  contract: WriteContract<Args, Rec>;
  /** The tool's own arguments: what the contract and the preview bind to. */
  change: Args;
  ctx: CallContext;
  deps: WriteDeps;
  services: WriteServices;
  options: WriteOptions;
  /** The record's id, and the queue key: provider, the credential's account, the id. */
  id: string;
  key: string;
  request: string;
}

/**
 * Runs one write through the pipeline. Write tools get it through defineWriteTool; revert_write calls
 * it with the undone write's contract and `options`.
 */
export async function executeWrite<Args, Rec>(
  tool: string,
  provider: Provider,
  contract: WriteContract<Args, Rec>,
  args: WriteArgs<Args>,
  ctx: CallContext,
  deps: WriteDeps,
  options: WriteOptions = {},
): Promise<WriteResult | PendingQuestion> {
  const services = deps.writes;
  const { dryRun, previewToken, ...own } = args;
  const change = own as Args;
  const { account, id } = contract.target(change, deps);
  const key = `${provider}:${account}:${id}`;
  const run: Run<Args, Rec> = { tool, provider, contract, change, ctx, deps, services, options, id, key, request: requestHash(own) };
  // An answer this call brings that cannot count is refused before anything is read or queued.
  const unusable = dryRun ? undefined : services.confirmer.check({ tool, key, request: run.request });
  if (unusable) throw new RefusalError(unusable);
  const seenAtPreview = previewToken !== undefined ? services.previews.check(previewToken, tool, key, run.request) : undefined;
  // A dry run only reads: it does not queue behind writes. Its token catches any write it raced.
  if (dryRun) return preview(run);
  // A database that serializes writes across replicas and cannot (busy, down) refuses in its own words.
  return services.queues.hold(
    key,
    ctx,
    () => commit(run, seenAtPreview),
    (err) => (err instanceof RefusalError ? err : queueStopped(ctx, provider, tool)),
  );
}

/**
 * What every write returns: the fields every write result shares (writeResult in src/tools/define-write.ts
 * describes them to the model), then the tool's own view of the record. A type, not an interface, so
 * that it is the JSON object the output schema describes.
 */
export type WriteResult = {
  applied: boolean;
  dryRun: boolean;
  changed: Change[];
  confirmation: Confirmation;
  message: string;
  warnings?: string[];
  retries?: string[];
  previewToken?: string;
  auditId?: string;
  [viewField: string]: unknown;
};

/** The parts of a write's result; `result` gives every write result the same shape. */
interface Outcome {
  applied: boolean;
  dryRun: boolean;
  changed: Change[];
  confirmation: Confirmation;
  message: string;
  warnings?: string[] | undefined;
  previewToken?: string | undefined;
  retries?: string[] | undefined;
  auditId?: string | undefined;
}

function result(o: Outcome, view: Record<string, unknown>, extra?: Record<string, unknown>): WriteResult {
  return {
    applied: o.applied,
    dryRun: o.dryRun,
    changed: o.changed,
    confirmation: o.confirmation,
    message: o.message,
    ...(o.warnings?.length ? { warnings: o.warnings } : {}),
    ...(o.retries?.length ? { retries: o.retries } : {}),
    ...(o.previewToken ? { previewToken: o.previewToken } : {}),
    ...(o.auditId ? { auditId: o.auditId } : {}),
    ...view,
    ...extra,
  };
}

/** dryRun: read, plan, and a preview token bound to what was seen. */
async function preview<Args, Rec>(run: Run<Args, Rec>): Promise<WriteResult> {
  const { contract, change, ctx, deps } = run;
  const current = await contract.read(ctx, change, deps);
  const plan = contract.plan(change, current, deps);
  const n = plan.changed.length;
  const on = named(run, current);
  return result(
    {
      applied: false,
      dryRun: true,
      changed: plan.changed,
      confirmation: "not_asked",
      message: n
        ? `Dry run: ${n} field(s) would change (${fieldList(plan.changed)}) on the record of ${on.name} (${labelOf(run.provider)} user ${on.id}). Nothing was written. To write exactly this, call again with the same arguments and this previewToken.`
        : `Dry run: nothing would change; the record of ${on.name} (${labelOf(run.provider)} user ${on.id}) already has these values. Nothing was written.`,
      warnings: plan.warnings,
      previewToken: n ? run.services.previews.issue(run.tool, run.key, run.request, plan.seen) : undefined,
    },
    contract.view(plan.preview ?? current),
  );
}

type Recorder = (phase: "intent" | "outcome", outcome: AuditOutcome | undefined, confirmation: Confirmation) => AuditRecord;

/** Inside the record's turn: read → plan → check the preview → confirm → record, write, verify, record. */
async function commit<Args, Rec>(
  run: Run<Args, Rec>,
  seenAtPreview: Record<string, unknown> | undefined,
): Promise<WriteResult | PendingQuestion> {
  const { contract, change, ctx, deps, services } = run;
  const current = await contract.read(ctx, change, deps);
  const plan = contract.plan(change, current, deps);
  named(run, current);
  const base = {
    tool: run.options.auditTool ?? run.tool,
    provider: run.provider,
    target: run.id,
    client: services.client,
    sandbox: deps.config.sandbox,
    tenant: deps.tenant,
    actor: deps.actor,
    revertOf: run.options.revertOf,
  };
  const record: Recorder = (phase, outcome, confirmation) => auditRecord(base, contract, plan.changed, phase, outcome, confirmation);
  const asItIs = (o: Omit<Outcome, "dryRun">) => result({ ...o, dryRun: false, warnings: plan.warnings }, contract.view(current));

  if (plan.changed.length === 0) {
    const auditId = await appendOrFail(ctx, services.audit, record("outcome", "unchanged", "not_asked"), false);
    const message = plan.unchangedMessage ?? "Nothing to change: the record already has these values. Nothing was written.";
    return asItIs({ applied: false, changed: [], confirmation: "not_asked", message, auditId });
  }
  if (seenAtPreview) await refuseIfMoved(run, record, seenAtPreview, plan.seen, "preview");
  const asked = await confirm(run, plan, current);
  if (asked instanceof PendingQuestion) return asked;
  if (asked.moved)
    await refuseIfMoved(run, record, asked.moved.seen, plan.seen, "question", asked.moved.change !== changeHash(plan.changed));
  const { confirmation, unavailable } = asked;
  if (confirmation === "declined" || confirmation === "cancelled" || confirmation === "timeout") {
    const auditId = await appendOrFail(ctx, services.audit, record("outcome", "declined", confirmation), false);
    return asItIs({ applied: false, changed: plan.changed, confirmation, message: notWritten(confirmation, deps.config), auditId });
  }
  if (unavailable && deps.config.confirm.mode === "require") {
    await appendOrFail(ctx, services.audit, record("outcome", "declined", "unavailable"), false);
    throw new RefusalError(refusedUnasked(sensitiveReasons(plan.changed, contract), unavailable));
  }
  return write(run, plan, confirmation, record, unavailable);
}

/** Why nothing was written after asking, in words that claim only what the server can know. */
function notWritten(confirmation: "declined" | "cancelled" | "timeout", config: Config): string {
  const why = {
    declined: "the question asking a person to confirm this change was declined",
    cancelled: "the host closed the question without an answer (it may not have shown it to anyone)",
    timeout: `nobody answered the question asking to confirm this change within ${Math.round(config.confirm.timeoutMs / 1000)} s (USERS_MCP_CONFIRM_TIMEOUT_MS)`,
  }[confirmation];
  return `Not written: ${why}. Do not retry it unless the person asks you to.`;
}

/** The refusal of a sensitive change under USERS_MCP_CONFIRM=require when the host cannot ask. */
const refusedUnasked = (reasons: string[], why: string) =>
  `Refused: this change needs a person's confirmation (${reasons.join("; ")}), and this MCP host cannot ask one: ${why}. Nothing was written. A person can make the change with a host that can ask (one that declares form elicitation), or the administrator of this server can set USERS_MCP_CONFIRM=ask to let the host's own tool approval stand in for the question.`;

/**
 * The one "the record moved" check, for a preview token and for an answered question alike: refused
 * (and recorded as a conflict) when a field the person saw moved since, or the change is no longer the one asked about.
 */
async function refuseIfMoved<Args, Rec>(
  run: Run<Args, Rec>,
  record: Recorder,
  then: Record<string, unknown>,
  now: Record<string, unknown>,
  since: "preview" | "question",
  changeDiffers = false,
): Promise<void> {
  const moved = Object.keys(then).filter((f) => canonical(then[f] ?? null) !== canonical(now[f] ?? null));
  if (!moved.length && !changeDiffers) return;
  await appendOrFail(run.ctx, run.services.audit, record("outcome", "conflict", "not_asked"), false);
  const when = since === "preview" ? "at preview time" : "when asked";
  throw new RefusalError(
    [
      since === "preview"
        ? "Conflict: the record changed since the preview, so nothing was written."
        : "Conflict: the record changed while the person was being asked, so nothing was written.",
      ...moved.map((f) => `- ${f}: ${show(then[f])} ${when}, ${show(now[f])} now`),
      since === "preview"
        ? "Preview again with dryRun: true, show the person the new values, and write with the new previewToken."
        : `Read the record again, and if the change is still wanted make a new ${run.tool} call: the person is asked about the new values.`,
    ].join("\n"),
  );
}

/** What asking came to: a confirmation to record, why nobody could be asked, what the person saw if asked before. */
interface Asked {
  confirmation: Confirmation;
  unavailable?: string | undefined;
  moved?: { seen: Record<string, unknown>; change: string } | undefined;
}

/** Whether a person confirmed a sensitive change, asked through the confirmation port under USERS_MCP_CONFIRM. */
async function confirm<Args, Rec>(run: Run<Args, Rec>, plan: WritePlan<Rec>, current: Rec): Promise<Asked | PendingQuestion> {
  const { contract, ctx, services, provider } = run;
  const reasons = sensitiveReasons(plan.changed, contract);
  if (!reasons.length || run.deps.config.confirm.mode === "off") return { confirmation: "not_asked" };
  const question: Question = {
    call: { tool: run.tool, key: run.key, request: run.request },
    message: confirmQuestion(reasons, contract.subject(current), provider, plan.changed),
    change: changeHash(plan.changed),
    seen: plan.seen,
  };
  const answer: Answer = await services.confirmer.ask(question, ctx);
  if (ctx.signal.aborted) throw queueStopped(ctx, provider, run.tool);
  switch (answer.kind) {
    case "asking":
      return answer.pending;
    case "refused":
      throw new RefusalError(answer.message);
    case "unavailable":
      return { confirmation: "unavailable", unavailable: answer.reason };
    case "answered":
      return { confirmation: answer.confirmation, moved: answer.asked };
  }
}

/** Hash of the planned change, field by field, before and after: what a confirmation question was asked about. */
const changeHash = (changed: Change[]) => bindingHash(changed);

/** Fail closed: the intent is on record before the upstream is touched; then send, verify, record the outcome. */
async function write<Args, Rec>(
  run: Run<Args, Rec>,
  plan: WritePlan<Rec>,
  confirmation: Confirmation,
  record: Recorder,
  unavailable: string | undefined,
): Promise<WriteResult> {
  const { contract, ctx, deps, services, provider, id } = run;
  const intent = record("intent", undefined, confirmation);
  const auditId = await appendOrFail(ctx, services.audit, intent, true);
  const ended = (outcome: AuditOutcome, more: Partial<AuditRecord>): AuditRecord => ({
    ...intent,
    phase: "outcome",
    time: new Date().toISOString(),
    outcome,
    ...more,
  });
  let sent: Awaited<ReturnType<WritePlan<Rec>["send"]>>;
  try {
    sent = await plan.send(ctx);
  } catch (err) {
    const unknown = err instanceof UpstreamError ? err.maybeApplied : true;
    await appendQuietly(
      ctx,
      deps,
      services.audit,
      ended(unknown ? "unknown" : "failed", {
        requestId: err instanceof UpstreamError ? err.requestId : ctx.requestId,
        // An upstream's words may echo the credential this call sent: scrubbed with this call's secrets.
        error: ctx.scrub(err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 300),
      }),
    );
    throw err;
  }
  const warnings = [...plan.warnings, ...verify(contract, plan.changed, sent.record, provider)];
  if (unavailable) warnings.push(`No person confirmed this change: the MCP host cannot ask (${unavailable}).`);
  if (!(await appendQuietly(ctx, deps, services.audit, ended("applied", { requestId: ctx.requestId }))))
    warnings.push(`The change was written, but its outcome could not be added to the audit log at ${services.audit?.where}.`);
  const who = `${contract.subject(sent.record)}${id === "me" ? "" : ` (${id})`}`;
  return result(
    {
      applied: true,
      dryRun: false,
      changed: plan.changed,
      confirmation,
      message: `Updated ${plan.changed.length} field(s) of ${who} on ${labelOf(provider)}: ${fieldList(plan.changed)}.${plan.note ? ` ${plan.note}` : ""}`,
      warnings,
      retries: ctx.retries.map((r) => `${r.method} ${r.path} was retried after ${r.reason}`),
      auditId,
    },
    contract.view(sent.record),
    sent.extra,
  );
}

/** The record this write applies to, passed to whoever asked to be told (the views show it). */
function named<Args, Rec>(run: Run<Args, Rec>, current: Rec): NamedRecord {
  const record = {
    tool: run.tool,
    provider: run.provider,
    id: run.contract.recordId?.(current) ?? run.id,
    name: run.contract.subject(current),
  };
  run.services.named?.(record);
  return record;
}

const fieldList = (changed: Change[]) => changed.map((c) => c.field).join(", ");

function show(value: unknown): string {
  const s = JSON.stringify(value ?? null);
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/** Why a change needs a person: each reason is an imperative phrase for the question. */
export function sensitiveReasons(
  changed: Change[],
  contract: Pick<WriteContract<unknown, unknown>, "sensitiveFields" | "labels">,
): string[] {
  const out: string[] = [];
  const label = (f: string) => contract.labels?.[f] ?? f;
  for (const c of changed) {
    if (c.field.startsWith("accepted") && c.before === true && c.after === false) out.push(`Withdraw ${label(c.field)}`);
    else if (c.field === "enabled" && c.after === false) out.push("Disable the user");
    else if (Array.isArray(c.before)) {
      const after = new Set((Array.isArray(c.after) ? c.after : []).map((v) => canonical(v)));
      const gone = c.before.filter((v) => !after.has(canonical(v)));
      if (gone.length) out.push(`Remove ${gone.length} entr${gone.length === 1 ? "y" : "ies"} from ${label(c.field)}`);
      else if (contract.sensitiveFields?.includes(c.field)) out.push(`Change ${label(c.field)}`);
    } else if (contract.sensitiveFields?.includes(c.field)) out.push(`Change ${label(c.field)}`);
  }
  return out;
}

function confirmQuestion(reasons: string[], subject: string, provider: Provider, changed: Change[]): string {
  const lines = changed.map((c) => `${c.field}: ${show(c.before)} → ${show(c.after)}`);
  return `${reasons.join("; ")} for ${subject} on ${labelOf(provider)}?\n${lines.join("\n")}`;
}

/** Fields the upstream stored differently from what was sent. */
function verify<Rec>(contract: WriteContract<unknown, Rec>, changed: Change[], record: Rec, provider: Provider): string[] {
  const stored = contract.stored(record);
  const out: string[] = [];
  for (const c of changed) {
    if (!Object.hasOwn(stored, c.field) || contract.credentialFields?.includes(c.field)) continue;
    if (canonical(stored[c.field] ?? null) !== canonical(c.after ?? null))
      out.push(`${labelOf(provider)} stored ${c.field} as ${show(stored[c.field])}, not as sent (${show(c.after)}).`);
  }
  return out;
}

function auditRecord(
  base: {
    tool: string;
    provider: Provider;
    target: string;
    client: WriteServices["client"];
    sandbox: boolean;
    tenant: string | undefined;
    actor: Actor | undefined;
    revertOf: string | undefined;
  },
  contract: Pick<WriteContract<unknown, unknown>, "credentialFields">,
  changed: Change[],
  phase: "intent" | "outcome",
  outcome: AuditOutcome | undefined,
  confirmation: Confirmation,
): AuditRecord {
  return {
    id: newAuditId(),
    time: new Date().toISOString(),
    phase,
    ...(outcome ? { outcome } : {}),
    tool: base.tool,
    provider: base.provider,
    target: base.target,
    changes: changed.map((c) =>
      contract.credentialFields?.includes(c.field) ? { field: c.field, before: "[redacted]", after: "[redacted]" } : c,
    ),
    confirmation,
    ...(base.client ? { client: { name: base.client.name, version: base.client.version } } : {}),
    ...(base.tenant ? { tenant: base.tenant } : {}),
    ...(base.actor ? { actor: base.actor } : {}),
    ...(base.sandbox ? { sandbox: true as const } : {}),
    ...(base.revertOf ? { revertOf: base.revertOf } : {}),
  };
}

/** How long an outcome may still take to record once the call's own deadline has passed. */
const OUTCOME_GRACE_MS = 2_000;

/** Appends a record; without a log, nothing. Throws RefusalError when the log cannot be written. */
async function appendOrFail(
  ctx: CallContext,
  audit: AuditSink | undefined,
  record: AuditRecord,
  beforeWrite: boolean,
): Promise<string | undefined> {
  if (!audit) return undefined;
  try {
    await audit.append(record, { deadline: ctx.deadline, signal: ctx.signal });
    return record.id;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (audit.kind === "database")
      throw new RefusalError(
        `${beforeWrite ? "Refused" : "Stopped"}: ${why}, and this server records every write before making it. Nothing was sent upstream. Reads still work; try the write again when the database is back (ask the person who runs the server to check USERS_MCP_DATABASE_URL and the database).`,
      );
    const fix = /timed out|has not returned|stopped:/.test(why)
      ? "put it on a local, responsive file system (not /proc or a stalled network mount)"
      : /symbolic link|FIFO|not a regular file/.test(why)
        ? "name a regular file"
        : "make the directory writable, free disk space";
    throw new RefusalError(
      `${beforeWrite ? "Refused" : "Stopped"}: ${why}, and this server records every write before making it. Nothing was sent upstream. Ask the person who runs the server to fix USERS_MCP_AUDIT_LOG (${fix}), or set it to off to run without an audit log.`,
    );
  }
}

/** Appends an outcome after the upstream was touched: a failure is logged, not thrown (the write happened or not already). */
async function appendQuietly(ctx: CallContext, deps: WriteDeps, audit: AuditSink | undefined, record: AuditRecord): Promise<boolean> {
  if (!audit) return true;
  try {
    // The upstream was touched already: its outcome gets a short grace past the call's deadline (a
    // write that ran to the last moment is still worth recording), but never an unbounded wait.
    await audit.append(record, { deadline: Math.max(ctx.deadline, Date.now() + OUTCOME_GRACE_MS) });
    return true;
  } catch (err) {
    deps.logger.error(`audit: could not record the outcome of write ${record.id}`, { error: (err as Error).message });
    return false;
  }
}

function queueStopped(ctx: CallContext, provider: Provider, tool: string): Error {
  if (ctx.cancelled()) return new UpstreamError({ provider, code: "cancelled", message: "the request was cancelled by the client" });
  return new RefusalError(
    `${tool} waited for another write to the same record to finish (writes to one record run one at a time), and its deadline of ${ctx.timeoutMs} ms passed first. Nothing was written. Try again; if another write is waiting for a person's confirmation, it ends when they answer.`,
  );
}

import { randomUUID } from "node:crypto";
import { chmod, constants, type FileHandle, mkdir, open, readFile, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { raceAbort } from "../client/call-context.js";
import { escapeControlCharacters } from "../kernel/escape.js";

/** How a write ended. A write that ends before the upstream is touched (declined, conflict, unchanged) has one record. */
export type AuditOutcome = "applied" | "failed" | "unknown" | "declined" | "conflict" | "unchanged";
/** What a person said, or why nobody was asked. */
export type Confirmation = "accepted" | "declined" | "cancelled" | "timeout" | "not_asked" | "unavailable";

/** Who made a write, from the access token they signed in with (OAuth). */
export interface Actor {
  sub: string;
  email?: string | undefined;
  name?: string | undefined;
  client_id?: string | undefined;
}

export interface AuditRecord {
  /** The write's id: an intent and its outcome share it. */
  id: string;
  time: string;
  phase: "intent" | "outcome";
  /** Absent on an intent. */
  outcome?: AuditOutcome;
  tool: string;
  provider: string;
  target: string;
  changes: Array<{ field: string; before: unknown; after: unknown }>;
  confirmation: Confirmation;
  client?: { name?: string | undefined; version?: string | undefined } | undefined;
  /** In caller-credentials mode: a hash of the caller's credentials, so tenants' writes can be told apart. */
  tenant?: string | undefined;
  /** With OAuth: the person (or client) whose token made the write. */
  actor?: Actor | undefined;
  requestId?: string | undefined;
  /** For failed and unknown outcomes: what happened, in a line. */
  error?: string | undefined;
  sandbox?: true;
  /** For an undo (revert_write): the id of the write it undoes. */
  revertOf?: string | undefined;
  /** An outcome found after the fact by reading the record (reconcile), for an intent left without one. */
  reconciled?: true;
}

/** The audit log could not be written: the write it was meant to record must not happen. */
export class AuditError extends Error {
  constructor(
    readonly where: string,
    readonly reason: string,
  ) {
    super(`the audit log at ${where} cannot be written (${reason})`);
    this.name = "AuditError";
  }
}

export const newAuditId = (): string => randomUUID();

/** How long an audit operation may take: until `deadline` (epoch ms), and no longer than `signal` lives. */
export interface AuditLimits {
  deadline: number;
  signal?: AbortSignal | undefined;
}

/** Where audit records go: the JSONL file (AuditLog) or the table (DatabaseAuditLog). */
export interface AuditSink {
  /** A JSONL file of this process, or the table replicas share: what a refusal advises to fix differs. */
  readonly kind: "file" | "database";
  /** Where, in words for messages: the file's path, or the database (never its URL). */
  readonly where: string;
  /** Appends one record durably; throws AuditError when that cannot be done in time. */
  append(record: AuditRecord, limits: AuditLimits): Promise<void>;
  close(): Promise<void>;
}

/**
 * The one serializer of audit records. The record is built field by field by the write path (secret
 * fields already replaced), so nothing here rewrites content: it only makes the line one line for every
 * reader. JSON.stringify leaves U+2028, U+2029 and U+0085 raw, and line readers that split on them
 * (Python's splitlines, several log shippers) would cut a record in two.
 */
export function serializeAuditRecord(record: AuditRecord): string {
  return `${JSON.stringify(record).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}\n`;
}

/**
 * The append-only audit log: JSON Lines, one record a line, every line synced to disk before the
 * call goes on. The directory is created 0700 and the file 0600: it names people and what changed
 * on their records. Opened on the first write, so a server that only reads never touches it.
 *
 * Every file operation runs under the call's deadline: a path on a FIFO nobody reads, a stalled
 * network volume or a path under /proc must refuse the write (fail closed, naming the path), not hang
 * it and every write queued behind it. An operation that never returns still holds a thread of
 * Node's pool, so while one is outstanding the next write is refused at once instead of adding another.
 */
export class AuditLog implements AuditSink {
  private handle: FileHandle | undefined;
  /** The open under way, shared by writes that arrive before it finishes (one file handle, not one each). */
  private opening: Promise<FileHandle> | undefined;
  /** An operation that has not returned yet, and what it was; a later write does not pile onto it. */
  private stuck: { what: string; since: number } | undefined;
  private warned = false;

  readonly kind = "file";

  constructor(
    readonly path: string,
    private readonly warn: (message: string) => void = () => {},
  ) {}

  get where(): string {
    return this.path;
  }

  /** Appends one record and syncs it to disk; throws AuditError when that cannot be done in time. */
  async append(record: AuditRecord, limits: AuditLimits): Promise<void> {
    const line = serializeAuditRecord(record);
    try {
      const handle = this.handle ?? (await this.openOnce(limits));
      await this.bounded("append", handle.write(line), limits);
      await this.bounded("fsync", handle.datasync(), limits);
    } catch (err) {
      const failed = this.handle;
      this.handle = undefined; // the next write tries afresh (a disk that was full may have room again)
      if (failed && !this.stuck) failed.close().catch(() => {});
      throw err instanceof AuditError ? err : new AuditError(this.path, reason(err));
    }
  }

  /** Opens the log (creating it) without writing: what doctor checks. */
  async ready(limits: AuditLimits): Promise<void> {
    if (!this.handle) await this.openOnce(limits);
  }

  private openOnce(limits: AuditLimits): Promise<FileHandle> {
    this.opening ??= this.open(limits).finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  /** Runs one file operation under the limits; past them, refuses and remembers it is still outstanding. */
  private async bounded<T>(what: string, op: Promise<T>, limits: AuditLimits): Promise<T> {
    if (this.stuck) {
      op.catch(() => {});
      const s = Math.round((Date.now() - this.stuck.since) / 1000);
      throw new AuditError(this.path, `an earlier ${this.stuck.what} has not returned for ${s} s; timed out`);
    }
    const left = limits.deadline - Date.now();
    if (left <= 0 || limits.signal?.aborted) {
      op.catch(() => {});
      throw new AuditError(this.path, `timed out before ${what}`);
    }
    const timeout = AbortSignal.timeout(left);
    const signal = limits.signal ? AbortSignal.any([timeout, limits.signal]) : timeout;
    try {
      return await raceAbort(op, signal);
    } catch (err) {
      if (!signal.aborted) throw err;
      // The operation goes on in Node's pool: until it returns, later writes are refused at once.
      this.stuck = { what, since: Date.now() };
      const unstuck = () => {
        this.stuck = undefined;
      };
      op.then(unstuck, unstuck);
      const timedOut = timeout.aborted || (limits.signal?.reason as { name?: string } | undefined)?.name === "TimeoutError";
      throw new AuditError(this.path, timedOut ? `${what} timed out after ${left} ms` : `${what} stopped: the call was cancelled`);
    }
  }

  private async open(limits: AuditLimits): Promise<FileHandle> {
    const dir = dirname(this.path);
    let created: string | undefined;
    try {
      created = await this.bounded("mkdir", mkdir(dir, { recursive: true, mode: 0o700 }), limits);
    } catch (err) {
      throw err instanceof AuditError ? err : new AuditError(this.path, reason(err));
    }
    await this.tightenDirectory(dir, created !== undefined, limits);
    let handle: FileHandle;
    try {
      // O_NOFOLLOW: a symbolic link in the last place is refused, not followed (and its target is not
      // chmod-ed). O_NONBLOCK: opening a FIFO that nobody reads fails at once instead of waiting.
      handle = await this.bounded("open", open(this.path, OPEN_FLAGS, 0o600), limits);
    } catch (err) {
      if (err instanceof AuditError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ELOOP" || code === "EMLINK")
        throw new AuditError(this.path, "it is a symbolic link; name the real file in USERS_MCP_AUDIT_LOG");
      if (code === "ENXIO") throw new AuditError(this.path, "it is a FIFO or socket, not a regular file");
      throw new AuditError(this.path, reason(err));
    }
    try {
      const info = await this.bounded("stat", handle.stat(), limits);
      if (!info.isFile()) throw new AuditError(this.path, "it is not a regular file");
      if (process.platform !== "win32" && (info.mode & 0o077) !== 0) await this.bounded("chmod", handle.chmod(0o600), limits);
    } catch (err) {
      if (!this.stuck) handle.close().catch(() => {});
      throw err instanceof AuditError ? err : new AuditError(this.path, reason(err));
    }
    this.handle = handle;
    return handle;
  }

  /** A directory this server created is made 0700; an existing one that others can read is worth a warning. */
  private async tightenDirectory(dir: string, created: boolean, limits: AuditLimits): Promise<void> {
    if (process.platform === "win32") return;
    try {
      const info = await this.bounded("stat", stat(dir), limits);
      if ((info.mode & 0o077) === 0) return;
      if (created) await this.bounded("chmod", chmod(dir, 0o700), limits);
      else if (!this.warned) {
        this.warned = true;
        this.warn(
          `the audit log's directory ${dir} can be read by others (mode ${(info.mode & 0o777).toString(8)}); run chmod 700 ${dir}, or choose another USERS_MCP_AUDIT_LOG`,
        );
      }
    } catch (err) {
      if (err instanceof AuditError) throw err;
      if (created) this.warn(`could not make the audit log's directory ${dir} private (${reason(err)})`);
    }
  }

  /** Closes the file; a handle whose operation never returned is left behind after a second. */
  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (!h) return;
    await Promise.race([h.close().catch(() => {}), new Promise((r) => setTimeout(r, 1_000).unref())]);
  }
}

const OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    ENOSPC: "no space left on the disk",
    EROFS: "read-only file system",
    EISDIR: "it is a directory",
    ENOTDIR: "a part of the path is not a directory",
    // mkdir -p over a file on the way
    EEXIST: "a part of the path is a file, not a directory",
    EDQUOT: "disk quota exceeded",
    ELOOP: "it is a symbolic link",
    ENXIO: "it is a FIFO or socket nobody reads",
  };
  return e?.code ? `${e.code}: ${words[e.code] ?? e.message}` : String(err);
}

/** Whether the audit log can be appended to (for doctor): undefined when it can, else why not. */
export async function auditProblem(path: string, timeoutMs = 5_000): Promise<string | undefined> {
  const log = new AuditLog(path);
  try {
    await log.ready({ deadline: Date.now() + timeoutMs });
    return undefined;
  } catch (err) {
    return err instanceof AuditError ? err.reason : reason(err);
  } finally {
    await log.close();
  }
}

/** One write as `users-mcp audit` shows it: its intent and outcome joined. */
export interface AuditEntry {
  id: string;
  time: string;
  tool: string;
  provider: string;
  target: string;
  fields: string[];
  changes: AuditRecord["changes"];
  outcome: AuditOutcome;
  confirmation: Confirmation;
  client?: AuditRecord["client"];
  tenant?: string | undefined;
  actor?: Actor | undefined;
  requestId?: string | undefined;
  error?: string | undefined;
  sandbox?: true;
  revertOf?: string | undefined;
  /** An intent with no outcome: the process stopped mid-write. */
  incomplete?: true;
  /** The outcome was found after the fact, by reading the record (reconcile). */
  reconciled?: true;
}

const OUTCOMES: ReadonlySet<string> = new Set<AuditOutcome>(["applied", "failed", "unknown", "declined", "conflict", "unchanged"]);
const CONFIRMATIONS: ReadonlySet<string> = new Set<Confirmation>([
  "accepted",
  "declined",
  "cancelled",
  "timeout",
  "not_asked",
  "unavailable",
]);

const isText = (v: unknown): v is string => typeof v === "string" && v !== "";
const optionalText = (v: unknown): boolean => v === undefined || typeof v === "string";

/**
 * A parsed line, if it is an audit record this reader can show: every field it uses is there and of
 * its type. Anything else (a line cut short, `[null]`, `{"changes":"abc"}`, an outcome without a
 * time) is not a record, and is counted instead of hiding every other line.
 */
function asRecord(value: unknown): AuditRecord | undefined {
  return isAuditRecord(value) ? value : undefined;
}

/** One line of the log as a record, or undefined when it is not a whole record. */
export function parseAuditLine(line: string): AuditRecord | undefined {
  try {
    return asRecord(JSON.parse(line));
  } catch {
    return undefined;
  }
}

function isAuditRecord(value: unknown): value is AuditRecord {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const r = value as Record<string, unknown>;
  if (!isText(r.id) || (r.phase !== "intent" && r.phase !== "outcome")) return false;
  if (!isText(r.time) || Number.isNaN(Date.parse(r.time))) return false;
  if (!isText(r.tool) || !isText(r.provider) || typeof r.target !== "string") return false;
  if (r.outcome !== undefined && !(typeof r.outcome === "string" && OUTCOMES.has(r.outcome))) return false;
  if (r.phase === "outcome" && r.outcome === undefined) return false;
  if (!(typeof r.confirmation === "string" && CONFIRMATIONS.has(r.confirmation))) return false;
  if (!Array.isArray(r.changes)) return false;
  for (const c of r.changes)
    if (c === null || typeof c !== "object" || Array.isArray(c) || !isText((c as { field?: unknown }).field)) return false;
  if (!optionalText(r.tenant) || !optionalText(r.requestId) || !optionalText(r.error) || !optionalText(r.revertOf)) return false;
  if (r.client !== undefined && (r.client === null || typeof r.client !== "object" || Array.isArray(r.client))) return false;
  if (r.actor !== undefined && (r.actor === null || typeof r.actor !== "object" || !isText((r.actor as { sub?: unknown }).sub)))
    return false;
  return true;
}

/**
 * Reads the log into entries, oldest first. A line that does not parse, or is not a whole record, is
 * skipped and its line number reported: one odd line never hides the others.
 */
export async function readAudit(path: string): Promise<{ entries: AuditEntry[]; unreadable: number[] }> {
  const text = await readFile(path, "utf8");
  return parseAudit(text);
}

export function parseAudit(text: string): { entries: AuditEntry[]; unreadable: number[] } {
  const byId = new Map<string, AuditEntry>();
  const unreadable: number[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === "") continue;
    const r = parseAuditLine(line);
    if (!r) {
      unreadable.push(i + 1);
      continue;
    }
    const known = byId.get(r.id);
    if (r.phase === "intent") {
      byId.set(r.id, { ...entryOf(r), outcome: "unknown", incomplete: true });
    } else if (known) {
      known.outcome = r.outcome ?? "unknown";
      known.requestId = r.requestId ?? known.requestId;
      known.error = r.error;
      known.confirmation = r.confirmation ?? known.confirmation;
      delete known.incomplete;
      if (r.reconciled === true) known.reconciled = true;
    } else {
      byId.set(r.id, { ...entryOf(r), outcome: r.outcome ?? "unknown" });
    }
  }
  return { entries: [...byId.values()], unreadable };
}

/** The file's intents older than `before` with no outcome, or only "unknown" ones none of which was reconciled; oldest first. */
export async function unsettledInFile(path: string, before: number): Promise<AuditRecord[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const open = new Map<string, AuditRecord>();
  for (const line of text.split("\n")) {
    const r = line.trim() ? parseAuditLine(line) : undefined;
    if (!r) continue;
    if (r.phase === "intent") {
      if (Date.parse(r.time) < before) open.set(r.id, r);
    } else if (r.outcome !== "unknown" || r.reconciled === true) open.delete(r.id);
  }
  return [...open.values()];
}

/** What identifies a write in every view of the log: its id, when, which tool, which record. */
export function recordBasics(r: AuditRecord): Pick<AuditRecord, "id" | "time" | "tool" | "provider" | "target" | "confirmation"> {
  return { id: r.id, time: r.time, tool: r.tool, provider: r.provider, target: r.target, confirmation: r.confirmation };
}

function entryOf(r: AuditRecord): AuditEntry {
  return {
    ...recordBasics(r),
    fields: (r.changes ?? []).map((c) => c.field),
    changes: r.changes ?? [],
    outcome: r.outcome ?? "unknown",
    ...(r.client ? { client: r.client } : {}),
    ...(r.tenant ? { tenant: r.tenant } : {}),
    ...(r.actor ? { actor: r.actor } : {}),
    ...(r.requestId ? { requestId: r.requestId } : {}),
    ...(r.error ? { error: r.error } : {}),
    ...(r.sandbox ? { sandbox: true as const } : {}),
    ...(r.revertOf ? { revertOf: r.revertOf } : {}),
  };
}

export interface AuditQuery {
  target?: string | undefined;
  /** ISO date-time: only writes at or after it. */
  since?: string | undefined;
  limit?: number | undefined;
}

export function selectEntries(entries: AuditEntry[], q: AuditQuery): AuditEntry[] {
  const since = q.since !== undefined ? Date.parse(q.since) : undefined;
  const picked = entries.filter(
    (e) => (q.target === undefined || e.target === q.target) && (since === undefined || Date.parse(e.time) >= since),
  );
  return q.limit !== undefined ? picked.slice(-q.limit) : picked;
}

/** Who made a write, in a table cell: the email or name the token carried, else its subject. */
export function actorWords(actor: Actor | undefined): string {
  if (!actor) return "-";
  const who = actor.email ?? actor.name ?? actor.sub;
  return actor.client_id ? `${who} (via ${actor.client_id})` : who;
}

/** The table `users-mcp audit` prints. */
export function renderAuditTable(entries: AuditEntry[]): string {
  if (entries.length === 0) return "No writes recorded.\n";
  const rows = [
    ["time", "tool", "target", "fields", "outcome", ...(entries.some((e) => e.actor) ? ["by"] : []), "confirmation", "auditId"],
    ...entries.map((e) => [
      e.time,
      e.tool,
      e.target,
      e.fields.join(",") || "-",
      `${e.outcome}${e.incomplete ? "*" : ""}${e.reconciled ? " (reconciled)" : ""}${e.revertOf ? ` (undo of ${e.revertOf.slice(0, 8)})` : ""}${e.sandbox ? " (sandbox)" : ""}`,
      ...(entries.some((x) => x.actor) ? [actorWords(e.actor)] : []),
      e.confirmation,
      // The whole id, as revert_write takes it.
      e.id,
    ]),
  ];
  // Whatever a cell holds (a name from a token's claims, a target from an upstream), one record stays one line.
  for (const row of rows) for (let i = 0; i < row.length; i++) row[i] = escapeControlCharacters(row[i] ?? "");
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  "));
  if (entries.some((e) => e.incomplete))
    lines.push(
      "",
      "* the process stopped after recording the intent of this write and before its outcome: it may or may not",
      "  have been applied. `users-mcp audit --reconcile` reads the record to settle it (the server does so at start).",
    );
  if (entries.some((e) => e.reconciled))
    lines.push("", "(reconciled): the outcome was found after the fact by reading the record upstream (users-mcp audit --reconcile).");
  return `${lines.join("\n")}\n`;
}

import { randomUUID } from "node:crypto";
import { constants, type FileHandle, mkdir, open, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { redact } from "./redact.js";

/** How a write ended. A write that ends before the upstream is touched (declined, conflict, unchanged) has one record. */
export type AuditOutcome = "applied" | "failed" | "unknown" | "declined" | "conflict" | "unchanged";
/** What a person said, or why nobody was asked. */
export type Confirmation = "accepted" | "declined" | "cancelled" | "timeout" | "not_asked" | "unavailable";

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
  requestId?: string | undefined;
  /** For failed and unknown outcomes: what happened, in a line. */
  error?: string | undefined;
  sandbox?: true;
}

/** The audit log could not be written: the write it was meant to record must not happen. */
export class AuditError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`the audit log at ${path} cannot be written (${reason})`);
    this.name = "AuditError";
  }
}

export const newAuditId = (): string => randomUUID();

/**
 * The append-only audit log: JSON Lines, one record a line, every line synced to disk before the
 * call goes on. The directory is created 0700 and the file 0600: it names people and what changed
 * on their records. Opened on the first write, so a server that only reads never touches it.
 */
export class AuditLog {
  private handle: Promise<FileHandle> | undefined;

  constructor(readonly path: string) {}

  /** Appends one record and syncs it to disk; throws AuditError when that cannot be done. */
  async append(record: AuditRecord): Promise<void> {
    // Values come from tools that already hide credentials; redact catches any secret that slipped in.
    const line = `${redact(JSON.stringify(record))}\n`;
    try {
      const handle = await this.open();
      await handle.write(line);
      await handle.datasync();
    } catch (err) {
      const failed = this.handle;
      this.handle = undefined; // the next write tries afresh (a disk that was full may have room again)
      failed?.then((h) => h.close()).catch(() => {});
      throw err instanceof AuditError ? err : new AuditError(this.path, reason(err));
    }
  }

  private open(): Promise<FileHandle> {
    this.handle ??= (async () => {
      try {
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        const handle = await open(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
        const { mode } = await handle.stat();
        if (process.platform !== "win32" && (mode & 0o077) !== 0) await handle.chmod(0o600);
        return handle;
      } catch (err) {
        throw new AuditError(this.path, reason(err));
      }
    })();
    return this.handle;
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.then((x) => x.close()).catch(() => {});
  }
}

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
  };
  return e?.code ? `${e.code}: ${words[e.code] ?? e.message}` : String(err);
}

/** Whether the audit log can be appended to (for doctor): undefined when it can, else why not. */
export async function auditProblem(path: string): Promise<string | undefined> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const h = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    await h.close();
    return undefined;
  } catch (err) {
    return reason(err);
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
  requestId?: string | undefined;
  error?: string | undefined;
  sandbox?: true;
  /** An intent with no outcome: the process stopped mid-write. */
  incomplete?: true;
}

/** Reads the log into entries, oldest first; lines that are not records are counted, not fatal. */
export async function readAudit(path: string): Promise<{ entries: AuditEntry[]; unreadable: number }> {
  const text = await readFile(path, "utf8");
  const byId = new Map<string, AuditEntry>();
  let unreadable = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let r: AuditRecord;
    try {
      r = JSON.parse(line) as AuditRecord;
    } catch {
      unreadable += 1;
      continue;
    }
    if (typeof r?.id !== "string" || (r.phase !== "intent" && r.phase !== "outcome")) {
      unreadable += 1;
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
    } else {
      byId.set(r.id, { ...entryOf(r), outcome: r.outcome ?? "unknown" });
    }
  }
  return { entries: [...byId.values()], unreadable };
}

function entryOf(r: AuditRecord): AuditEntry {
  return {
    id: r.id,
    time: r.time,
    tool: r.tool,
    provider: r.provider,
    target: r.target,
    fields: (r.changes ?? []).map((c) => c.field),
    changes: r.changes ?? [],
    outcome: r.outcome ?? "unknown",
    confirmation: r.confirmation,
    ...(r.client ? { client: r.client } : {}),
    ...(r.tenant ? { tenant: r.tenant } : {}),
    ...(r.requestId ? { requestId: r.requestId } : {}),
    ...(r.error ? { error: r.error } : {}),
    ...(r.sandbox ? { sandbox: true as const } : {}),
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

/** The table `users-mcp audit` prints. */
export function renderAuditTable(entries: AuditEntry[]): string {
  if (entries.length === 0) return "No writes recorded.\n";
  const rows = [
    ["time", "tool", "target", "fields", "outcome", "confirmation"],
    ...entries.map((e) => [
      e.time,
      e.tool,
      e.target,
      e.fields.join(",") || "-",
      `${e.outcome}${e.incomplete ? "*" : ""}${e.sandbox ? " (sandbox)" : ""}`,
      e.confirmation,
    ]),
  ];
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  "));
  if (entries.some((e) => e.incomplete))
    lines.push(
      "",
      "* the process stopped after recording the intent of this write and before its outcome: it may or may not",
      "  have been applied. Check the record upstream (get_user, get_gdpr_user or get_current_user) before retrying.",
    );
  return `${lines.join("\n")}\n`;
}

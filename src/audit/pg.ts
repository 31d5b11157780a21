import { type Database, StatementTimeout } from "./database.js";
import type { IndexedWrite, WriteHistory, WriteQuery } from "./history.js";
import { type AuditEntry, AuditError, type AuditLimits, type AuditRecord, type AuditSink, parseAudit } from "./log.js";

/** How the audit table is named in messages (never the URL: it may hold a password). */
export const DATABASE_AUDIT = "PostgreSQL (USERS_MCP_DATABASE_URL)";

/**
 * The audit log as a table (USERS_MCP_DATABASE_URL): one row a record, the same records as the JSONL
 * file. An INSERT returns once committed, so a write's intent is durable before the upstream is touched,
 * as with the file's fsync. Bounded by the call's deadline like the file.
 */
export class DatabaseAuditLog implements AuditSink {
  readonly kind = "database";
  readonly where = DATABASE_AUDIT;

  constructor(private readonly db: Database) {}

  async append(record: AuditRecord, limits: AuditLimits): Promise<void> {
    if (limits.deadline - Date.now() <= 0) throw new AuditError(this.where, "timed out before the insert");
    const r = storable(record);
    try {
      // Bounded in the database (statement_timeout): an insert the call gave up on is cancelled there,
      // and the call waits for the database's own answer, so a record it reports unwritten never appears.
      await this.db.query(
        `INSERT INTO users_mcp_audit (id, phase, time, tool, provider, target, outcome, confirmation, tenant, sandbox, revert_of, actor, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [
          r.id,
          r.phase,
          r.time,
          r.tool,
          r.provider,
          r.target,
          r.outcome ?? null,
          r.confirmation,
          r.tenant ?? null,
          r.sandbox === true,
          r.revertOf ?? null,
          r.actor ? JSON.stringify(r.actor) : null,
          JSON.stringify(r),
        ],
        limits.deadline,
      );
    } catch (err) {
      if (err instanceof StatementTimeout) throw new AuditError(this.where, `timed out; ${err.message}`);
      throw new AuditError(this.where, (err as Error).message);
    }
  }

  async close(): Promise<void> {}
}

/**
 * The record as PostgreSQL can hold it: text and jsonb cannot hold U+0000, so each one (in upstream
 * data, claims, arguments) is stored as U+FFFD, the replacement character, and the write goes on.
 */
export function storable(record: AuditRecord): AuditRecord {
  const json = JSON.stringify(record);
  return json.includes("\\u0000")
    ? (JSON.parse(json, (_k, v: unknown) => (typeof v === "string" ? v.replaceAll("\u0000", "\uFFFD") : v)) as AuditRecord)
    : record;
}

/** Every record, oldest first, as the file reader joins them: what `users-mcp audit` shows. */
export async function readDatabaseAudit(db: Database): Promise<{ entries: AuditEntry[]; unreadable: number[] }> {
  const { rows } = await db.query<{ record: AuditRecord }>("SELECT record FROM users_mcp_audit ORDER BY seq");
  return parseAudit(rows.map((r) => JSON.stringify(r.record)).join("\n"));
}

interface WriteRow {
  id: string;
  first: AuditRecord;
  last: AuditRecord;
  reverted_by: string | null;
}

/** list_writes and revert_write over the audit table: each query asks the database, which every replica shares. */
export class DatabaseHistory implements WriteHistory {
  constructor(private readonly db: Database) {}

  async sync(): Promise<void> {}

  async find(id: string, tenant: string | undefined, sandbox: boolean): Promise<IndexedWrite | undefined> {
    const [w] = await this.select("id = $3", [id], 1, tenant, sandbox);
    return w;
  }

  async query(q: WriteQuery): Promise<IndexedWrite[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (clause: (n: number) => string, value: unknown) => {
      values.push(value);
      where.push(clause(values.length + 2));
    };
    if (q.target !== undefined) add((n) => `target = $${n}`, q.target);
    if (q.tool !== undefined) add((n) => `tool = $${n}`, q.tool);
    if (q.since !== undefined) add((n) => `time >= $${n}`, new Date(q.since).toISOString());
    return this.select(where.join(" AND ") || "true", values, q.limit, q.tenant, q.sandbox);
  }

  async changes(writes: readonly IndexedWrite[]): Promise<Array<AuditRecord["changes"]>> {
    if (writes.length === 0) return [];
    const { rows } = await this.db.query<{ id: string; changes: AuditRecord["changes"] }>(
      "SELECT DISTINCT ON (id) id, record->'changes' AS changes FROM users_mcp_audit WHERE id = ANY($1) ORDER BY id, seq",
      [writes.map((w) => w.id)],
    );
    const byId = new Map(rows.map((r) => [r.id, r.changes]));
    return writes.map((w) => byId.get(w.id) ?? []);
  }

  /** Writes of one tenant and mode, newest first: each write's first and last record, and the undo that undid it. */
  private async select(where: string, values: unknown[], limit: number, tenant: string | undefined, sandbox: boolean) {
    const { rows } = await this.db.query<WriteRow>(
      `WITH w AS (
         SELECT id, min(seq) AS first_seq FROM users_mcp_audit
         WHERE tenant IS NOT DISTINCT FROM $1 AND sandbox = $2 AND ${where}
         GROUP BY id ORDER BY first_seq DESC LIMIT ${Math.max(0, Math.floor(limit))}
       )
       SELECT w.id,
         (SELECT record FROM users_mcp_audit a WHERE a.id = w.id ORDER BY seq LIMIT 1) AS first,
         (SELECT record FROM users_mcp_audit a WHERE a.id = w.id ORDER BY seq DESC LIMIT 1) AS last,
         (SELECT a.id FROM users_mcp_audit a WHERE a.revert_of = w.id AND a.phase = 'outcome' AND a.outcome = 'applied'
            ORDER BY seq LIMIT 1) AS reverted_by
       FROM w ORDER BY w.first_seq DESC`,
      [tenant ?? null, sandbox, ...values],
    );
    return rows.map((r): IndexedWrite => {
      const outcome = r.last.phase === "intent" ? "unknown" : (r.last.outcome ?? "unknown");
      return {
        id: r.id,
        time: r.first.time,
        tool: r.first.tool,
        provider: r.first.provider,
        target: r.first.target,
        confirmation: r.last.confirmation,
        tenant: r.first.tenant,
        ...(r.first.actor ? { actor: r.first.actor } : {}),
        sandbox: r.first.sandbox === true,
        outcome,
        revertOf: r.first.revertOf,
        at: 0,
        length: 0,
        ...(r.reverted_by ? { revertedBy: r.reverted_by } : {}),
      };
    });
  }
}

/** Held by the replica that is reconciling, so that replicas starting together settle each write once. */
const RECONCILE_LOCK = 7_517_529_832;

/**
 * Runs `fn` if no other replica is reconciling (an advisory lock, on the one connection it holds);
 * undefined when one is.
 */
export async function whileReconciling<T>(db: Database, fn: () => Promise<T>): Promise<T | undefined> {
  return db.hold(Date.now() + 10_000, undefined, async () => {
    const { rows } = await db.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [RECONCILE_LOCK]);
    if (!rows[0]?.ok) return undefined;
    try {
      return await fn();
    } finally {
      await db.query("SELECT pg_advisory_unlock($1)", [RECONCILE_LOCK]);
    }
  });
}

/** Intents older than `before` with no outcome, or only "unknown" ones none of which was reconciled; oldest first. */
export async function unsettledIntents(db: Database, before: number): Promise<AuditRecord[]> {
  const { rows } = await db.query<{ record: AuditRecord }>(
    `SELECT i.record FROM users_mcp_audit i
     WHERE i.phase = 'intent' AND i.time < $1
       AND NOT EXISTS (SELECT 1 FROM users_mcp_audit o WHERE o.id = i.id AND o.phase = 'outcome'
                       AND (o.outcome <> 'unknown' OR o.record->>'reconciled' = 'true'))
     ORDER BY i.seq`,
    [new Date(before).toISOString()],
  );
  return rows.map((r) => r.record);
}

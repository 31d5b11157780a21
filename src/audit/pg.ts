import { raceAbort } from "../client/call-context.js";
import { type Database, DatabaseUnavailable } from "./database.js";
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
    const left = limits.deadline - Date.now();
    if (left <= 0) throw new AuditError(this.where, "timed out before the insert");
    const timeout = AbortSignal.timeout(left);
    const signal = limits.signal ? AbortSignal.any([timeout, limits.signal]) : timeout;
    try {
      await raceAbort(
        this.db.query(
          `INSERT INTO users_mcp_audit (id, phase, time, tool, provider, target, outcome, confirmation, tenant, sandbox, revert_of, actor, record)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
          [
            record.id,
            record.phase,
            record.time,
            record.tool,
            record.provider,
            record.target,
            record.outcome ?? null,
            record.confirmation,
            record.tenant ?? null,
            record.sandbox === true,
            record.revertOf ?? null,
            record.actor ? JSON.stringify(record.actor) : null,
            JSON.stringify(record),
          ],
        ),
        signal,
      );
    } catch (err) {
      if (timeout.aborted) throw new AuditError(this.where, "timed out");
      throw new AuditError(this.where, err instanceof DatabaseUnavailable ? err.message : (err as Error).message);
    }
  }

  async close(): Promise<void> {}
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

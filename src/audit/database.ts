import { randomBytes } from "node:crypto";
import type pg from "pg";

/** The schema version this server creates and understands. */
export const SCHEMA_VERSION = 1;

/** Held while migrating, so that replicas starting at the same moment migrate one after another. */
const MIGRATION_LOCK = 7_517_529_831;

/**
 * Each migration, in order. Version 1: the audit table (append-only: no role may update, delete or
 * truncate it, enforced by triggers, and the server's own role gives up those rights), the keys table
 * (the preview key replicas share), and the answered confirmations (a replayed answer writes once).
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE users_mcp_audit (
     seq bigserial PRIMARY KEY,
     id text NOT NULL,
     phase text NOT NULL CHECK (phase IN ('intent', 'outcome')),
     time timestamptz NOT NULL,
     tool text NOT NULL,
     provider text NOT NULL,
     target text NOT NULL,
     outcome text,
     confirmation text NOT NULL,
     tenant text,
     sandbox boolean NOT NULL DEFAULT false,
     revert_of text,
     actor jsonb,
     record jsonb NOT NULL
   );
   CREATE INDEX users_mcp_audit_id ON users_mcp_audit (id);
   CREATE INDEX users_mcp_audit_scope ON users_mcp_audit (tenant, sandbox, seq DESC);
   CREATE INDEX users_mcp_audit_revert_of ON users_mcp_audit (revert_of) WHERE revert_of IS NOT NULL;
   CREATE FUNCTION users_mcp_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION 'users_mcp_audit is append-only: records are never changed or removed'; END $$;
   CREATE TRIGGER users_mcp_audit_no_change BEFORE UPDATE OR DELETE ON users_mcp_audit
     FOR EACH ROW EXECUTE FUNCTION users_mcp_audit_append_only();
   CREATE TRIGGER users_mcp_audit_no_truncate BEFORE TRUNCATE ON users_mcp_audit
     FOR EACH STATEMENT EXECUTE FUNCTION users_mcp_audit_append_only();
   REVOKE UPDATE, DELETE, TRUNCATE ON users_mcp_audit FROM CURRENT_USER;
   CREATE TABLE users_mcp_keys (name text PRIMARY KEY, value bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
   CREATE TABLE users_mcp_answered (nonce text PRIMARY KEY, expires_at timestamptz NOT NULL);`,
];

/** What a write is refused with while the database cannot be reached. */
export class DatabaseUnavailable extends Error {
  constructor(readonly reason: string) {
    super(`the database (USERS_MCP_DATABASE_URL) cannot be reached: ${reason}`);
    this.name = "DatabaseUnavailable";
  }
}

/** Whether an error means the database could not be reached (rather than a statement it refused). */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return true; // ECONNREFUSED, a timeout, a closed socket
  return code.startsWith("08") || code.startsWith("57") || code === "53300"; // connection, shutdown, too many connections
}

const words = (err: unknown) =>
  (err instanceof Error ? err.message : String(err)).replace(/postgres(ql)?:\/\/\S+/g, "postgres://…").slice(0, 200);

/**
 * PostgreSQL for the state replicas share (USERS_MCP_DATABASE_URL): the audit log, per-record write
 * locks and the preview key. A small pool; the schema is created and migrated on first use by the
 * server's own (ordinary) role, under an advisory lock so that replicas starting together do not trip
 * over each other. While the database cannot be reached, `healthy` is false (what /readyz reports),
 * writes are refused and reads go on; a ping every 2 s notices when it is back, and the pool reconnects.
 */
export class Database {
  private made: pg.Pool | undefined;
  private making: Promise<pg.Pool> | undefined;
  private problem: string | undefined = "not connected yet";
  private migrated: Promise<number> | undefined;
  private key: Promise<Buffer> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly url: string) {}

  /** The pool; node-postgres loads on first use, so a server without a database never pays for it. */
  pool(): Promise<pg.Pool> {
    this.making ??= import("pg").then(({ default: { Pool } }) => {
      this.made = new Pool({
        connectionString: this.url,
        max: 8,
        connectionTimeoutMillis: 3_000,
        idleTimeoutMillis: 30_000,
        query_timeout: 15_000,
        application_name: "users-mcp",
        keepAlive: true,
      });
      // An idle connection that breaks (the database restarted) is dropped; the next query reconnects.
      this.made.on("error", (err) => this.down(err));
      return this.made;
    });
    return this.making;
  }

  /** A connection of its own (for a session lock); a failure to connect marks the database down. */
  async connect(): Promise<pg.PoolClient> {
    try {
      return await (await this.pool()).connect();
    } catch (err) {
      throw this.down(err);
    }
  }

  /** Why the database cannot be used right now; undefined when it can. */
  get unavailable(): string | undefined {
    return this.problem;
  }

  /** Pings every 2 s (not keeping the process alive), so readiness follows the database both ways. */
  watch(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.ping().catch(() => {}), 2_000);
    this.timer.unref();
  }

  /**
   * The schema's version, migrating first when this process has not (or the database went away since).
   * Costs nothing once migrated: statements find out for themselves whether the database is there.
   * Throws DatabaseUnavailable (and marks the database down) when it cannot be reached.
   */
  async ready(): Promise<number> {
    try {
      if (!this.migrated) {
        this.migrated = this.migrate();
        this.migrated.catch(() => {
          this.migrated = undefined;
        });
      }
      const version = await this.migrated;
      this.problem = undefined;
      return version;
    } catch (err) {
      throw this.down(err);
    }
  }

  /** Whether the database answers now: what the watch runs, so that /readyz follows it without a write. */
  private async ping(): Promise<void> {
    await this.query("SELECT 1");
  }

  /** Runs a statement; a connection failure marks the database down and throws DatabaseUnavailable. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    await this.ready();
    try {
      return await (await this.pool()).query<R>(text, values);
    } catch (err) {
      if (isConnectionError(err)) throw this.down(err);
      throw err;
    }
  }

  /** The preview key the replicas share: made by the first server to ask, read by the others. */
  previewKey(): Promise<Buffer> {
    this.key ??= (async () => {
      await this.query("INSERT INTO users_mcp_keys (name, value) VALUES ('preview', $1) ON CONFLICT (name) DO NOTHING", [randomBytes(32)]);
      const { rows } = await this.query<{ value: Buffer }>("SELECT value FROM users_mcp_keys WHERE name = 'preview'");
      if (!rows[0]) throw new DatabaseUnavailable("the preview key could not be read");
      return rows[0].value;
    })();
    this.key.catch(() => {
      this.key = undefined;
    });
    return this.key;
  }

  /**
   * Records a confirmation's nonce as answered, for every replica: false when one had already (a replay).
   * Expired nonces are cleared as new ones come.
   */
  async answered(nonce: string, expires: number): Promise<boolean> {
    await this.query("DELETE FROM users_mcp_answered WHERE expires_at < now() - interval '1 minute'");
    const { rowCount } = await this.query("INSERT INTO users_mcp_answered (nonce, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", [
      nonce,
      new Date(expires).toISOString(),
    ]);
    return rowCount === 1;
  }

  down(err: unknown): DatabaseUnavailable {
    const e = err instanceof DatabaseUnavailable ? err : new DatabaseUnavailable(words(err));
    this.problem = e.reason;
    // When it is back it may not be the database it was (restored, or replaced): check the schema again.
    this.migrated = undefined;
    return e;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.made?.end().catch(() => {});
  }

  private async migrate(): Promise<number> {
    const client = await (await this.pool()).connect();
    let broken: Error | undefined;
    try {
      await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
      await client.query(
        "CREATE TABLE IF NOT EXISTS users_mcp_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
      );
      const { rows } = await client.query<{ v: number }>("SELECT coalesce(max(version), 0)::int AS v FROM users_mcp_schema");
      const at = rows[0]?.v ?? 0;
      if (at > SCHEMA_VERSION)
        throw new Error(`the database's schema is version ${at}, newer than this server's ${SCHEMA_VERSION}: upgrade users-mcp`);
      for (let v = at; v < SCHEMA_VERSION; v++) {
        await client.query("BEGIN");
        try {
          await client.query(MIGRATIONS[v] as string);
          await client.query("INSERT INTO users_mcp_schema (version) VALUES ($1)", [v + 1]);
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK").catch(() => {});
          throw err;
        }
      }
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
      return SCHEMA_VERSION;
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      // A connection that failed mid-migration is dropped, and its session's lock with it.
      client.release(broken);
    }
  }
}

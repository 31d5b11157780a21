import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { raceAbort } from "../client/call-context.js";

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

/**
 * The database is there but has no connection for this call in time: this server's pool is taken by
 * other writes, or PostgreSQL itself is out of connections (max_connections). Not an outage: try again.
 */
export class DatabaseBusy extends Error {
  constructor(
    readonly reason: string,
    /** When a retry is likely to find a connection, in whole seconds. */
    readonly retryAfterSeconds: number,
  ) {
    super(`the database (USERS_MCP_DATABASE_URL) is busy: ${reason}; try again in ${retryAfterSeconds} s`);
    this.name = "DatabaseBusy";
  }
}

/** PostgreSQL's "too many connections" (53300): the server is up but full. */
const isFull = (err: unknown) => (err as { code?: unknown } | null)?.code === "53300";

/** Whether an error means the database could not be reached (rather than a statement it refused, or it being full). */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof DatabaseBusy) return false;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return true; // ECONNREFUSED, a timeout, a closed socket
  return code.startsWith("08") || code.startsWith("57"); // connection, shutdown (57014: a cancelled statement is not)
}

const words = (err: unknown) =>
  (err instanceof Error ? err.message : String(err)).replace(/postgres(ql)?:\/\/\S+/g, "postgres://…").slice(0, 200);

/** A statement with no deadline of its own may run this long in the database. */
const STATEMENT_MS = 15_000;
/** How long past its statement_timeout a statement's answer may take to arrive before the connection is dropped. */
const ANSWER_SLACK_MS = 3_000;
/** How long a call without a deadline waits for a connection. */
const CONNECTION_WAIT_MS = 10_000;

/** The connection a write holds from its read to its outcome: every statement of the write goes over it. */
const sessions = new AsyncLocalStorage<pg.PoolClient>();
/** The statement_timeout each connection has now (ms), so that it is set only when a statement needs it tighter. */
const timeouts = new WeakMap<pg.ClientBase, number>();

export interface DatabaseOptions {
  /** USERS_MCP_DATABASE_ADMIN_URL: the owner role, which migrates and grants. Without it the server's own role migrates. */
  adminUrl?: string | undefined;
  /** USERS_MCP_DATABASE_POOL_SIZE. */
  poolSize?: number | undefined;
}

/**
 * PostgreSQL for the state replicas share (USERS_MCP_DATABASE_URL): the audit log, per-record write
 * locks and the preview key. A pool of USERS_MCP_DATABASE_POOL_SIZE connections; a write holds at most
 * one of them (`hold`), and every statement it makes goes over that one, so writes cannot deadlock the
 * pool waiting for a second. Waiting for a connection is bounded by the call's deadline and ends in
 * DatabaseBusy, not DatabaseUnavailable, when the database is merely full. Every statement runs under a
 * statement_timeout equal to the time its call has left, so a statement abandoned at a deadline is
 * cancelled by the database itself: nothing commits after the call gave up.
 *
 * The schema is migrated at start, by USERS_MCP_DATABASE_ADMIN_URL's role when set (which then grants
 * the run-time role INSERT and SELECT only), else by the server's own role, under an advisory lock so
 * that replicas starting together do not trip over each other. While the database cannot be reached,
 * `unavailable` says why (what /readyz reports), writes are refused and reads go on; a ping every 2 s
 * notices when it is back, and the pool reconnects.
 */
export class Database {
  private made: pg.Pool | undefined;
  private making: Promise<pg.Pool> | undefined;
  private problem: string | undefined = "not connected yet";
  private migrated: Promise<number> | undefined;
  private key: Promise<Buffer> | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly poolSize: number;
  /** How long writes hold their connection, on average (ms): what "try again in N s" is estimated from. */
  private holdMs = 500;
  private waiting = 0;
  private lastAnswer = 0;

  constructor(
    private readonly url: string,
    private readonly options: DatabaseOptions = {},
  ) {
    this.poolSize = options.poolSize ?? 10;
  }

  /** The pool; node-postgres loads on first use, so a server without a database never pays for it. */
  pool(): Promise<pg.Pool> {
    this.making ??= import("pg").then(({ default: { Pool } }) => {
      this.made = new Pool({
        connectionString: this.url,
        max: this.poolSize,
        // Only the connection attempt itself: waiting in the pool's queue is bounded by each call (connect()).
        connectionTimeoutMillis: 5_000,
        idleTimeoutMillis: 30_000,
        application_name: "users-mcp",
        keepAlive: true,
        statement_timeout: STATEMENT_MS,
      });
      // An idle connection that breaks (the database restarted) is dropped; the next query reconnects.
      this.made.on("error", (err) => this.down(err));
      return this.made;
    });
    return this.making;
  }

  /**
   * A connection, waited for until `deadline` at most. PostgreSQL's "too many connections" is retried
   * until then (it frees as other clients finish); running out of time is DatabaseBusy with an estimate
   * of when to try again. A failure to connect marks the database down (DatabaseUnavailable).
   */
  async connect(deadline = Date.now() + CONNECTION_WAIT_MS, signal?: AbortSignal): Promise<pg.PoolClient> {
    const pool = await this.pool();
    this.waiting++;
    try {
      for (let pause = 20; ; pause = Math.min(pause * 2, 250)) {
        const left = Math.floor(deadline - Date.now());
        // Out of time before asking (it went waiting for the record's turn): not the database's doing.
        if (left <= 0 || signal?.aborted) throw signal?.reason ?? new StatementTimeout();
        const timer = AbortSignal.timeout(left);
        const connecting = pool.connect();
        try {
          return await raceAbort(connecting, signal ? AbortSignal.any([timer, signal]) : timer, (late) => late.release());
        } catch (err) {
          if (timer.aborted || signal?.aborted)
            throw this.busy(`all ${this.poolSize} connections of this server (USERS_MCP_DATABASE_POOL_SIZE) are in use by other writes`);
          if (isFull(err)) {
            if (Date.now() + pause >= deadline) throw this.busy("PostgreSQL has no free connection (max_connections)");
            await new Promise((resolve) => setTimeout(resolve, pause));
            continue;
          }
          // node-postgres times out a wait in its queue like a connection attempt: with every connection
          // out to other writes, that is a wait to go on with (until our own deadline), not an outage.
          // So is a connection attempt that PostgreSQL, busy but answering moments ago, was slow to take.
          if (
            /timeout exceeded when trying to connect/.test(words(err)) &&
            (pool.totalCount >= this.poolSize || Date.now() - this.lastAnswer < 10_000)
          )
            continue;
          throw this.down(err);
        }
      }
    } finally {
      this.waiting--;
    }
  }

  private busy(reason: string): DatabaseBusy {
    const rounds = Math.ceil((this.waiting + 1) / this.poolSize);
    return new DatabaseBusy(reason, Math.min(30, Math.max(1, Math.ceil((rounds * this.holdMs) / 1000))));
  }

  /**
   * Runs `fn` holding one connection until it settles: every statement `fn` makes through this
   * Database (audit records, the record's lock, a confirmation's nonce) goes over it, in order. The
   * connection is waited for until `deadline`; `fn` gets it to take locks on.
   */
  async hold<T>(deadline: number, signal: AbortSignal | undefined, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.ready();
    const client = await this.connect(deadline, signal);
    const since = Date.now();
    let broken: Error | undefined;
    try {
      return await sessions.run(client, () => fn(client));
    } catch (err) {
      if (err instanceof DatabaseUnavailable) broken = err;
      throw err;
    } finally {
      this.holdMs = this.holdMs * 0.9 + (Date.now() - since) * 0.1;
      client.release(broken);
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
      if (err instanceof DatabaseBusy || err instanceof SchemaProblem) throw err;
      throw this.down(err);
    }
  }

  /**
   * Whether the database answers now: what the watch runs, so that /readyz follows it without a write.
   * A pool taken whole by writes that keep getting answers is busy, not down.
   */
  private async ping(): Promise<void> {
    if (this.made && this.made.idleCount === 0 && this.made.totalCount >= this.poolSize && Date.now() - this.lastAnswer < 5_000) return;
    await this.query("SELECT 1").catch((err: unknown) => {
      if (!(err instanceof DatabaseBusy)) throw err;
    });
  }

  /**
   * Runs a statement, bounded by `deadline` (epoch ms) in the database itself (statement_timeout): on
   * the connection the calling write holds, else on one of the pool's. A connection failure marks the
   * database down and throws DatabaseUnavailable; no connection in time throws DatabaseBusy.
   */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values: unknown[] = [],
    deadline?: number,
  ): Promise<pg.QueryResult<R>> {
    // Inside a write's session: its one connection, as it is (a write never waits for a second one).
    const held = sessions.getStore();
    if (held) return this.bounded<R>(held, text, values, deadline);
    await this.ready();
    const client = await this.connect(deadline ?? Date.now() + CONNECTION_WAIT_MS);
    let broken: Error | undefined;
    try {
      return await this.bounded<R>(client, text, values, deadline);
    } catch (err) {
      if (err instanceof DatabaseUnavailable) broken = err;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /**
   * One statement, under a statement_timeout no longer than the time left until `deadline` (set on the
   * connection only when it must be tightened: most statements cost one round trip). The call waits for
   * the database's own answer (committed, or cancelled at the timeout), so what it reports is what
   * happened; only an answer that does not come at all (a network gone) drops the connection.
   */
  private async bounded<R extends pg.QueryResultRow>(
    client: pg.PoolClient,
    text: string,
    values: unknown[],
    deadline?: number,
  ): Promise<pg.QueryResult<R>> {
    const now = timeouts.get(client) ?? STATEMENT_MS;
    const want = deadline === undefined ? undefined : Math.floor(deadline - Date.now());
    if (want !== undefined && want <= 0) throw new StatementTimeout();
    const set = want !== undefined ? (now > want + 1_000 ? want : undefined) : now < STATEMENT_MS / 3 ? STATEMENT_MS : undefined;
    try {
      if (set !== undefined) {
        await this.answer(client, "SELECT set_config('statement_timeout', $1, false)", [String(set)], set);
        timeouts.set(client, set);
      }
      const result = await this.answer<R>(client, text, values, timeouts.get(client) ?? STATEMENT_MS);
      this.lastAnswer = Date.now();
      return result;
    } catch (err) {
      if ((err as { code?: unknown }).code === "57014") throw new StatementTimeout();
      if (isConnectionError(err)) throw this.down(err);
      throw err;
    }
  }

  private answer<R extends pg.QueryResultRow>(
    client: pg.PoolClient,
    text: string,
    values: unknown[],
    ms: number,
  ): Promise<pg.QueryResult<R>> {
    const running = client.query<R>(text, values);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        running.catch(() => {});
        reject(new Error("the database did not answer"));
      }, ms + ANSWER_SLACK_MS);
      running.then(
        (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
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

  /**
   * What the server's role finds, changing nothing (what `doctor` reports): the schema's version (0:
   * no schema), the role's name, and the rights on the audit table that would let it rewrite history.
   */
  async inspect(): Promise<{ version: number; role: string; rewrite: string[]; records: number | undefined }> {
    const client = await this.connect();
    try {
      const version = await schemaVersion(client);
      const { rows } = await client.query<{ role: string; owner: boolean; up: boolean; del: boolean; tr: boolean; su: boolean }>(
        `SELECT current_user AS role,
           coalesce((SELECT tableowner = current_user FROM pg_tables WHERE tablename = 'users_mcp_audit' AND schemaname = current_schema()), false) AS owner,
           (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su,
           to_regclass('users_mcp_audit') IS NOT NULL AND has_table_privilege('users_mcp_audit', 'UPDATE') AS up,
           to_regclass('users_mcp_audit') IS NOT NULL AND has_table_privilege('users_mcp_audit', 'DELETE') AS del,
           to_regclass('users_mcp_audit') IS NOT NULL AND has_table_privilege('users_mcp_audit', 'TRUNCATE') AS tr`,
      );
      const r = rows[0];
      const rewrite = r
        ? [
            ...(r.su ? ["is a superuser"] : []),
            ...(r.owner ? ["owns the audit table (it can grant itself UPDATE and DELETE, and disable its triggers)"] : []),
            ...(r.up ? ["may UPDATE it"] : []),
            ...(r.del ? ["may DELETE from it"] : []),
            ...(r.tr ? ["may TRUNCATE it"] : []),
          ]
        : [];
      let records: number | undefined;
      if (version > 0) records = Number((await client.query<{ n: string }>("SELECT count(*) AS n FROM users_mcp_audit")).rows[0]?.n ?? 0);
      return { version, role: r?.role ?? "?", rewrite, records };
    } finally {
      client.release();
    }
  }

  /**
   * Brings the schema to this server's version. With USERS_MCP_DATABASE_ADMIN_URL, its role migrates
   * and grants the server's role (USERS_MCP_DATABASE_URL's) INSERT and SELECT on the audit table, and
   * no more, each time (so a new run-time role gets its rights); without, the server's own role
   * migrates. A schema that is current costs one statement and needs no right to create anything.
   */
  private async migrate(): Promise<number> {
    const client = await this.connect();
    let role: string;
    let broken: Error | undefined;
    try {
      const at = await schemaVersion(client);
      if (at > SCHEMA_VERSION) throw newerSchema(at);
      role = (await client.query<{ role: string }>("SELECT current_user AS role")).rows[0]?.role ?? "";
      if (!this.options.adminUrl) {
        if (at < SCHEMA_VERSION) await migrateOn(client, undefined);
        return SCHEMA_VERSION;
      }
    } catch (err) {
      // A connection that failed mid-migration is dropped, and its session's lock with it.
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.release(broken);
    }
    const { default: pg } = await import("pg");
    const admin = new pg.Client({
      connectionString: this.options.adminUrl,
      application_name: "users-mcp (migration)",
      connectionTimeoutMillis: 5_000,
    });
    try {
      await admin.connect();
    } catch (err) {
      await admin.end().catch(() => {});
      throw new SchemaProblem(`the owner role (USERS_MCP_DATABASE_ADMIN_URL) cannot connect: ${words(err)}`);
    }
    try {
      const owner = (await admin.query<{ role: string }>("SELECT current_user AS role")).rows[0]?.role;
      await migrateOn(admin, owner === role ? undefined : role);
      return SCHEMA_VERSION;
    } finally {
      await admin.end().catch(() => {});
    }
  }
}

/** The schema is missing or newer, or the owner role cannot migrate it: a setup problem, not an outage. */
export class SchemaProblem extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SchemaProblem";
  }
}

/** A statement that ran out of its call's time: cancelled in the database (statement_timeout), nothing committed. */
export class StatementTimeout extends Error {
  constructor() {
    super("the statement ran out of the call's time and was cancelled in the database (nothing was committed)");
    this.name = "StatementTimeout";
  }
}

const newerSchema = (at: number) =>
  new SchemaProblem(`the database's schema is version ${at}, newer than this server's ${SCHEMA_VERSION}: upgrade users-mcp`);

/** The schema version as found, 0 when there is none; reads only. */
async function schemaVersion(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ present: boolean }>("SELECT to_regclass('users_mcp_schema') IS NOT NULL AS present");
  if (!rows[0]?.present) return 0;
  const v = await client.query<{ v: number }>("SELECT coalesce(max(version), 0)::int AS v FROM users_mcp_schema");
  return v.rows[0]?.v ?? 0;
}

/** Runs the migrations still to run, under the migration lock; then grants `grantee` (the run-time role) its rights. */
async function migrateOn(client: pg.ClientBase, grantee: string | undefined): Promise<void> {
  await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
  try {
    await client.query(
      "CREATE TABLE IF NOT EXISTS users_mcp_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const at = await schemaVersion(client);
    if (at > SCHEMA_VERSION) throw newerSchema(at);
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
    if (grantee !== undefined) await client.query(grants(grantee));
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => {});
  }
}

/**
 * What the run-time role may do: insert and read the audit log (nothing else on it), add and read the
 * preview key, and keep the answered confirmations (which expire, so it deletes those).
 */
function grants(role: string): string {
  const r = `"${role.replaceAll('"', '""')}"`;
  return `REVOKE ALL ON users_mcp_audit, users_mcp_keys, users_mcp_answered, users_mcp_schema FROM ${r};
    GRANT SELECT, INSERT ON users_mcp_audit TO ${r};
    GRANT USAGE ON SEQUENCE users_mcp_audit_seq_seq TO ${r};
    GRANT SELECT, INSERT ON users_mcp_keys TO ${r};
    GRANT SELECT, INSERT, DELETE ON users_mcp_answered TO ${r};
    GRANT SELECT ON users_mcp_schema TO ${r};`;
}

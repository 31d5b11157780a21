import { randomBytes } from "node:crypto";
import type { Tool } from "@modelcontextprotocol/server";
import { Database } from "../audit/database.js";
import { AuditIndex, type WriteHistory } from "../audit/history.js";
import { AuditLog, type AuditSink, unsettledInFile } from "../audit/log.js";
import { DatabaseAuditLog, DatabaseHistory, unsettledIntents, whileReconciling } from "../audit/pg.js";
import { LiveCalls } from "../client/call-context.js";
import type { Clients } from "../client/index.js";
import { Gauge } from "../kernel/gauge.js";
import type { Logger } from "../kernel/log.js";
import type { Config } from "../settings/config.js";
import { selectToolNames } from "../tools/catalog.js";
import type { ToolDefinition } from "../tools/define.js";
import { ConfirmStates } from "../writes/confirm-state.js";
import { DatabaseLocks, RecordQueues, type RecordTurns } from "../writes/lock.js";
import { PreviewTokens } from "../writes/preview.js";
import type { ReconcileReport } from "../writes/reconcile.js";
import { QuestionBoard } from "./answers.js";
import { toolListing } from "./listing.js";

/** The tools this configuration serves, loaded on first use. */
export interface Catalog {
  all: ReadonlyArray<ToolDefinition>;
  tools: ToolDefinition[];
  byName: Map<string, ToolDefinition>;
  listing: Tool[];
}

/**
 * What one process holds for every MCP server it makes (stdio makes one; the HTTP mode one per request):
 * made once, passed down, never a module global. Settings and logger, the tool catalog, the preview key,
 * the audit log and its index, the per-record write queues, the live calls' deadlines, and a count of
 * tool calls under way that a shutdown waits on.
 */
export interface Runtime {
  config: Config;
  logger: Logger;
  catalog(): Promise<Catalog>;
  /**
   * The preview tokens and confirmation states, under one key: USERS_MCP_PREVIEW_KEY, else the key the
   * replicas share in the database, else a random one per process. Rejects (naming the database) while
   * a database that holds the key cannot be reached.
   */
  keys(): Promise<{ previews: PreviewTokens; confirmStates: ConfirmStates }>;
  audit: AuditSink | undefined;
  /** The audit log indexed (or queried) for list_writes and revert_write. */
  history: WriteHistory | undefined;
  /** Writes to one record run one at a time: in this process, or across replicas through the database. */
  queues: RecordTurns;
  /** PostgreSQL (USERS_MCP_DATABASE_URL), when the state is shared there. */
  database: Database | undefined;
  /** The calls under way: one timer for their deadlines, one listener per shutdown signal. */
  calls: LiveCalls;
  /** Questions asked over 2025 HTTP streams, waiting for answers POSTed to any replica. */
  questions: QuestionBoard;
  /** Tool calls under way, so that a shutdown can wait for them to answer. */
  busy: Gauge;
  /**
   * Connects to the database (migrating it) and keeps watching it; a database that is down only warns.
   * Given the upstream clients, then settles in the background the writes a crash left in doubt (reconcile).
   */
  start(clients?: Clients): Promise<void>;
  /** Settles the writes left in doubt by reading their records; undefined when another replica is at it, or nothing is recorded. */
  reconcile(clients: Clients): Promise<ReconcileReport | undefined>;
  close(): Promise<void>;
}

export function createRuntime(config: Config, logger: Logger): Runtime {
  selectToolNames(config); // a configuration error surfaces at start-up, not at the first call
  // The definitions (zod schemas, vocabularies) load on the first tools/list or tools/call, after
  // the host's initialize has been answered: start-up pays only for what initialize needs.
  let catalog: Promise<Catalog> | undefined;
  const database = config.databaseUrl
    ? new Database(config.databaseUrl, { adminUrl: config.databaseAdminUrl, poolSize: config.databasePoolSize })
    : undefined;
  const audit: AuditSink | undefined = database
    ? new DatabaseAuditLog(database)
    : config.auditLog
      ? new AuditLog(config.auditLog, (m) => logger.warn(m))
      : undefined;
  const questions = new QuestionBoard(database, config.databaseUrl, logger);
  let keys: Promise<{ previews: PreviewTokens; confirmStates: ConfirmStates }> | undefined;
  const remember = database ? (nonce: string, expires: number) => database.answered(nonce, expires) : undefined;
  const makeKeys = (key: string | Buffer) => ({ previews: new PreviewTokens(key), confirmStates: new ConfirmStates(key, remember) });
  return {
    config,
    logger,
    catalog() {
      catalog ??= import("../tools/index.js").then(({ ALL_TOOLS, selectTools }) => {
        const tools = selectTools(config);
        return { all: ALL_TOOLS, tools, byName: new Map(tools.map((t) => [t.name, t])), listing: toolListing(tools) };
      });
      return catalog;
    },
    keys() {
      if (!keys) {
        const pending =
          config.previewKey || !database
            ? Promise.resolve(makeKeys(config.previewKey ?? randomBytes(32)))
            : database.previewKey().then(makeKeys);
        keys = pending;
        pending.catch(() => {
          keys = undefined;
        });
      }
      return keys;
    },
    audit,
    history: database ? new DatabaseHistory(database) : config.auditLog ? new AuditIndex(config.auditLog) : undefined,
    queues: database ? new DatabaseLocks(database) : new RecordQueues(),
    database,
    calls: new LiveCalls(),
    questions,
    busy: new Gauge(),
    async start(clients) {
      if (database) {
        database.watch();
        try {
          const version = await database.ready();
          logger.info(`database: connected, schema version ${version}`);
        } catch (err) {
          logger.warn(`database: ${(err as Error).message}; reads are served, writes are refused until it is back`);
          return;
        }
      }
      if (clients)
        void this.reconcile(clients).then(
          (r) => {
            if (r && r.applied + r.failed + r.unknown > 0)
              logger.info(`reconcile: settled writes left in doubt: ${r.applied} applied, ${r.failed} not applied, ${r.unknown} undecided`);
            for (const u of r?.undecided ?? []) logger.warn(`reconcile: write ${u.id} stays unknown: ${u.reason}`);
          },
          (err: unknown) => logger.warn(`reconcile: ${(err as Error).message}`),
        );
    },
    async reconcile(clients) {
      if (!audit) return undefined;
      const sink = audit;
      const [{ reconcile }, { REVERTIBLE }] = await Promise.all([import("../writes/reconcile.js"), import("../tools/revert-write.js")]);
      const deps = { config, clients, logger };
      if (database)
        return whileReconciling(database, () =>
          reconcile({ intents: (b) => unsettledIntents(database, b), audit: sink }, REVERTIBLE, deps),
        );
      const path = config.auditLog;
      return path ? reconcile({ intents: (b) => unsettledInFile(path, b), audit: sink }, REVERTIBLE, deps) : undefined;
    },
    close: async () => {
      await questions.close();
      await audit?.close();
      await database?.close();
    },
  };
}

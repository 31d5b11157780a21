import { randomBytes } from "node:crypto";
import { Database } from "../audit/database.js";
import { AuditIndex, type WriteHistory } from "../audit/history.js";
import { AuditLog, type AuditSink } from "../audit/log.js";
import { DatabaseAuditLog, DatabaseHistory } from "../audit/pg.js";
import { LiveCalls } from "../client/call-context.js";
import type { Logger } from "../kernel/log.js";
import type { Config } from "../settings/config.js";
import { ConfirmStates } from "../writes/confirm-state.js";
import { DatabaseLocks, RecordQueues, type RecordTurns } from "../writes/lock.js";
import { PreviewTokens } from "../writes/preview.js";
import { QuestionBoard } from "./answers.js";

/** What tool calls share in one process: made on the first call (src/mcp/state.ts), or at start-up with a database. */
export interface RuntimeState {
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
}

/**
 * The state a process keeps for its tool calls: the audit log and its index (or the database that holds
 * them), the per-record write queues, the preview and confirmation keys, the live calls' deadlines. Made
 * once per process, on the first tool call (or at start-up when a database is configured), so that
 * neither this module nor the audit stores and `pg` behind it are on the path to an initialize answer.
 */
export function createState(config: Config, logger: Logger, sharedQueues?: RecordTurns): RuntimeState {
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
    queues: sharedQueues ?? (database ? new DatabaseLocks(database) : new RecordQueues()),
    database,
    calls: new LiveCalls(),
    questions,
  };
}

import { readAudit, renderAuditTable, selectEntries } from "../audit/log.js";
import { escapeJsonControls } from "../kernel/escape.js";
import type { Logger } from "../kernel/log.js";
import type { Config } from "../settings/config.js";

/** `users-mcp audit`: recent writes from the audit log, as a table or JSON. Returns the exit code. */
export async function runAuditCommand(
  config: Config,
  options: {
    json?: boolean | undefined;
    target?: string | undefined;
    since?: string | undefined;
    limit?: string | undefined;
    reconcile?: boolean | undefined;
  },
  write: (s: string) => void,
  logger?: Logger,
): Promise<number> {
  const fail = (message: string) => {
    process.stderr.write(`users-mcp audit: ${message}\n`);
    return 2;
  };
  if (!config.auditLog && !config.databaseUrl) return fail("the audit log is off (USERS_MCP_AUDIT_LOG=off): nothing is recorded.");
  if (options.since !== undefined && Number.isNaN(Date.parse(options.since)))
    return fail(`--since must be an ISO date or date-time such as 2026-11-23 or 2026-11-23T15:00:00Z, got "${options.since}"`);
  let limit: number | undefined = 50;
  if (options.limit !== undefined) {
    limit = Number(options.limit);
    if (!Number.isSafeInteger(limit) || limit < 0) return fail(`--limit must be a whole number (0 for all), got "${options.limit}"`);
    if (limit === 0) limit = undefined;
  }
  if (options.reconcile && logger) {
    const failed = await reconcileNow(config, logger, options.json ? (s) => process.stderr.write(s) : write);
    if (failed) return fail(failed);
  }
  let read: Awaited<ReturnType<typeof readAudit>>;
  if (config.databaseUrl) {
    const [{ Database }, { readDatabaseAudit, DATABASE_AUDIT }] = await Promise.all([
      import("../audit/database.js"),
      import("../audit/pg.js"),
    ]);
    const db = new Database(config.databaseUrl, { poolSize: 2 });
    try {
      read = await readDatabaseAudit(db);
    } catch (err) {
      return fail(`cannot read the audit table: ${(err as Error).message}`);
    } finally {
      await db.close();
    }
    return show(read, DATABASE_AUDIT);
  }
  if (!config.auditLog) return 2;
  try {
    read = await readAudit(config.auditLog);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      write(options.json ? "[]\n" : `No writes recorded yet (${config.auditLog} does not exist).\n`);
      return 0;
    }
    return fail(`cannot read ${config.auditLog}: ${code ?? (err as Error).message}`);
  }
  return show(read, config.auditLog);

  function show(found: Awaited<ReturnType<typeof readAudit>>, where: string): number {
    const entries = selectEntries(found.entries, { target: options.target, since: options.since, limit });
    if (options.json) write(`${escapeJsonControls(JSON.stringify(entries, null, 2))}\n`);
    else {
      write(`Audit log ${where}${limit ? ` (last ${limit}; --limit 0 for all)` : ""}\n\n`);
      write(renderAuditTable(entries));
    }
    const n = found.unreadable.length;
    if (n) {
      const shown = found.unreadable.slice(0, 20).join(", ");
      process.stderr.write(
        `users-mcp audit: ${n} line${n === 1 ? "" : "s"} could not be read: ${shown}${n > 20 ? ", …" : ""} (not whole audit records; skipped)\n`,
      );
    }
    return 0;
  }
}

/**
 * `--reconcile`: settles the writes left in doubt (intents with no outcome, or an unknown one) by
 * reading their records, as the server does at start; says what it found. An error message, or undefined.
 */
async function reconcileNow(config: Config, logger: Logger, write: (s: string) => void): Promise<string | undefined> {
  const [{ createState }, { createClients }, { reconcile }, { REVERTIBLE }, pgStore, { unsettledInFile }] = await Promise.all([
    import("../mcp/state.js"),
    import("../client/index.js"),
    import("../writes/reconcile.js"),
    import("../tools/revert-write.js"),
    import("../audit/pg.js"),
    import("../audit/log.js"),
  ]);
  const state = createState(config, logger);
  const clients = createClients(config);
  const deps = { config, clients, logger };
  try {
    const { database, audit } = state;
    if (!audit) return "the audit log is off";
    await database?.ready();
    const r = database
      ? await pgStore.whileReconciling(database, () =>
          reconcile({ intents: (b) => pgStore.unsettledIntents(database, b), audit }, REVERTIBLE, deps),
        )
      : config.auditLog
        ? await reconcile({ intents: (b) => unsettledInFile(config.auditLog as string, b), audit }, REVERTIBLE, deps)
        : undefined;
    if (!r) {
      write("Reconcile: another replica is reconciling right now; nothing was settled here.\n\n");
      return undefined;
    }
    write(
      `Reconcile: ${r.applied} applied, ${r.failed} not applied, ${r.unknown} still unknown (each a new outcome record marked reconciled).\n`,
    );
    for (const u of r.undecided) write(`  ${u.id}: ${u.reason}\n`);
    write("\n");
    return undefined;
  } catch (err) {
    return `cannot reconcile: ${(err as Error).message}`;
  } finally {
    await state.audit?.close();
    await state.database?.close();
    await clients.close();
  }
}

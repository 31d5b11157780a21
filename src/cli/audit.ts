import { readAudit, renderAuditTable, selectEntries } from "../audit/log.js";
import { escapeJsonControls } from "../kernel/escape.js";
import type { Config } from "../settings/config.js";

/** `users-mcp audit`: recent writes from the audit log, as a table or JSON. Returns the exit code. */
export async function runAuditCommand(
  config: Config,
  options: { json?: boolean | undefined; target?: string | undefined; since?: string | undefined; limit?: string | undefined },
  write: (s: string) => void,
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
  let read: Awaited<ReturnType<typeof readAudit>>;
  if (config.databaseUrl) {
    const [{ Database }, { readDatabaseAudit, DATABASE_AUDIT }] = await Promise.all([
      import("../audit/database.js"),
      import("../audit/pg.js"),
    ]);
    const db = new Database(config.databaseUrl);
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

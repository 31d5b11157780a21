import { createCallContext } from "../client/call-context.js";
import { UpstreamError } from "../client/errors.js";
import { createClients } from "../client/index.js";
import { describeError } from "../mcp/explain.js";
import { type Config, ENV_VARS, sourceOf } from "../settings/config.js";
import { credentialRoutes, isConfigured, PROVIDERS, type ProviderName } from "../settings/providers.js";

export interface DoctorRow {
  provider: string;
  configured: boolean;
  reachable: boolean | undefined;
  authenticated: boolean | undefined;
  latencyMs: number | undefined;
  fix: string;
}

const PROBE_USER = "users-mcp-doctor-probe";
const PROBE_GUID = "00000000-0000-0000-0000-000000000000";

/**
 * Checks each configured provider with the cheapest call that proves the credentials work,
 * prints a table, and returns the exit code: non-zero when a configured provider fails or none is configured.
 */
export async function runDoctor(config: Config, write: (s: string) => void, settingsFile?: string): Promise<number> {
  const clients = createClients(config);
  try {
    const rows = await Promise.all([
      probe(config, "leadping", async (ctx) => {
        await clients.leadping().getCurrentUser(ctx);
      }),
      probe(config, "leadconnector", async (ctx) => {
        // With a company id, a one-row search proves the token, the users.readonly scope and the
        // company. Without one, no user id is known here: a lookup of an id that cannot exist proves
        // the token and the scope (404), or shows which of them is wrong (401, 403).
        const companyId = config.leadconnector.companyId;
        if (companyId) {
          await clients.leadconnector().searchUsers(ctx, { companyId, limit: 1, skip: 0 });
          return;
        }
        try {
          await clients.leadconnector().getUser(ctx, PROBE_USER);
        } catch (err) {
          if (!(err instanceof UpstreamError && err.code === "not_found")) throw err;
        }
      }),
      probe(config, "twosms", async (ctx) => {
        const client = clients.twosms();
        if (config.twosms.clientId && config.twosms.clientSecret) {
          await client.accessToken(ctx, true);
          return;
        }
        try {
          await client.getUser(ctx, PROBE_GUID);
        } catch (err) {
          if (!(err instanceof UpstreamError && (err.code === "not_found" || err.code === "upstream_error"))) throw err;
        }
      }),
    ]);
    write(renderTable(rows, config));
    write(renderSettings(config, settingsFile));
    const auditBroken = await renderWritePath(config, write);
    const failed = rows.filter((r) => r.configured && (!r.reachable || !r.authenticated));
    const none = rows.every((r) => !r.configured);
    if (none)
      write(
        "\nNo provider is configured, so every tool would fail: set LEADPING_API_TOKEN, LEADCONNECTOR_TOKEN, or TWOSMS_CLIENT_ID and TWOSMS_CLIENT_SECRET (in the host's env block or the settings file), or try `users-mcp --sandbox`.\n",
      );
    else
      write(
        failed.length
          ? `\n${failed.length} configured provider(s) failing.\n`
          : "\nAll configured providers are reachable and accept their credentials.\n",
      );
    return failed.length || auditBroken || none ? 1 : 0;
  } finally {
    await clients.close();
  }
}

async function probe(
  config: Config,
  name: ProviderName,
  run: (ctx: ReturnType<typeof createCallContext>) => Promise<void>,
): Promise<DoctorRow> {
  const provider = PROVIDERS[name].label;
  const configured = isConfigured(config, name);
  if (!configured)
    return {
      provider,
      configured,
      reachable: undefined,
      authenticated: undefined,
      latencyMs: undefined,
      fix: `not configured: set ${PROVIDERS[name].credentialVars} to use it`,
    };
  const started = Date.now();
  const ctx = createCallContext(Math.min(config.timeoutMs, 10_000));
  try {
    await run(ctx);
    return { provider, configured, reachable: true, authenticated: true, latencyMs: Date.now() - started, fix: "-" };
  } catch (err) {
    const latencyMs = Date.now() - started;
    const e = err instanceof UpstreamError ? err : undefined;
    const unreachable = !e || ["network", "timeout", "bad_response", "too_large", "server_error"].includes(e.code);
    const lines = describeError(err, undefined, config).split("\n");
    const next = lines.find((l) => l.startsWith("Next step: "));
    const fix = ctx.scrub(`${lines[0] ?? ""}${next ? ` ${next.slice("Next step: ".length)}` : ""}`);
    return { provider, configured, reachable: !unreachable, authenticated: unreachable ? undefined : false, latencyMs, fix };
  } finally {
    ctx.dispose();
  }
}

function renderTable(rows: DoctorRow[], config: Config): string {
  const yn = (v: boolean | undefined) => (v === undefined ? "-" : v ? "yes" : "NO");
  const table = [
    ["provider", "configured", "reachable", "authenticated", "latency", "what to fix"],
    ...rows.map((r) => [
      r.provider,
      r.configured ? "yes" : "no",
      yn(r.reachable),
      yn(r.authenticated),
      r.latencyMs === undefined ? "-" : `${r.latencyMs} ms`,
      r.fix,
    ]),
  ];
  const widths = (table[0] ?? []).map((_, i) => Math.max(...table.map((row) => (row[i] ?? "").length)));
  const lines = table.map((row) => row.map((cell, i) => (i === 5 ? cell : cell.padEnd(widths[i] ?? 0))).join("  "));
  const header = `users-mcp doctor${config.sandbox ? " (sandbox)" : ""}: timeout ${config.timeoutMs} ms, read-only ${config.readOnly ? "on" : "off"}, credential changes ${config.allowCredentialChanges ? "allowed" : "refused"}\n\n`;
  return `${header}${lines.join("\n")}\n`;
}

/** Where each credential goes and where every setting came from, so a redirected base URL shows at a glance. */
function renderSettings(config: Config, settingsFile: string | undefined): string {
  const lines = ["", "Where credentials go:"];
  if (config.sandbox) lines.push("  sandbox mode: every provider points at the built-in sandbox on 127.0.0.1; nothing leaves this machine");
  else for (const r of credentialRoutes(config)) lines.push(`  ${r.summary}`);
  lines.push("", `Settings (environment first, then ${settingsFile ?? "no env file"}):`);
  const width = Math.max(...ENV_VARS.map((v) => v.name.length));
  for (const v of ENV_VARS) lines.push(`  ${v.name.padEnd(width)}  ${sourceOf(config, v.name)}`);
  return `${lines.join("\n")}\n`;
}

/** The write path's settings, and whether the audit log can be written (a write would be refused if not). */
async function renderWritePath(config: Config, write: (s: string) => void): Promise<boolean> {
  let broken = false;
  const lines = ["", `Confirmation of sensitive writes: ${config.confirm.mode} (timeout ${config.confirm.timeoutMs} ms)`];
  if (config.http.oauth) {
    const { OAuthResource } = await import("../transport/oauth.js");
    const oauth = new OAuthResource(config.http.oauth);
    try {
      const meta = await oauth.issuerMetadata();
      lines.push(
        `OAuth (--http): tokens from ${oauth.issuer} for ${oauth.resource}; issuer metadata read, keys at ${meta.jwks_uri ?? "(none published: only opaque tokens, by introspection)"}${meta.introspection_endpoint && config.http.oauth.clientId ? "; opaque tokens introspected" : ""}`,
      );
    } catch (err) {
      broken = true;
      lines.push(
        `OAuth (--http): the issuer ${oauth.issuer} cannot be read (${(err as Error).message}). No token can be checked until this is fixed.`,
      );
    }
  }
  if (config.databaseUrl) broken = (await renderDatabase(config, config.databaseUrl, lines)) || broken;
  else if (!config.auditLog) lines.push("Audit log: off (USERS_MCP_AUDIT_LOG=off): writes are not recorded");
  else {
    const { auditProblem } = await import("../audit/log.js");
    const problem = await auditProblem(config.auditLog);
    broken = broken || problem !== undefined;
    lines.push(
      problem
        ? `Audit log: ${config.auditLog}: NOT writable (${problem}). Every write will be refused until this is fixed.`
        : `Audit log: ${config.auditLog} (writable)`,
    );
  }
  write(`${lines.join("\n")}\n`);
  return broken;
}

/**
 * The database, checked as the server's role sees it, changing nothing: doctor creates no table. It
 * says when the schema is missing (and how to migrate), and when the server's role could rewrite the
 * audit history (and how to split the owner from the run-time role).
 */
async function renderDatabase(config: Config, url: string, lines: string[]): Promise<boolean> {
  const { Database, SCHEMA_VERSION } = await import("../audit/database.js");
  const db = new Database(url, { poolSize: 1 });
  const name = "Database (USERS_MCP_DATABASE_URL)";
  try {
    const found = await db.inspect();
    if (found.version === 0) {
      lines.push(
        `${name}: connected as role ${found.role}, but the schema is missing (no users_mcp_* tables). Migrate it: start users-mcp once with USERS_MCP_DATABASE_ADMIN_URL set to the role that should own the tables (it creates them and grants ${found.role} INSERT and SELECT), or, with one role, start it with USERS_MCP_DATABASE_URL alone. Every write is refused until then.`,
      );
      return true;
    }
    if (found.version !== SCHEMA_VERSION)
      lines.push(
        `${name}: schema version ${found.version}, this server's is ${SCHEMA_VERSION}: ${found.version > SCHEMA_VERSION ? "upgrade users-mcp" : "it is migrated when the server starts (with USERS_MCP_DATABASE_ADMIN_URL when set)"}.`,
      );
    lines.push(
      `${name}: connected; schema version ${found.version} (this server's: ${SCHEMA_VERSION}); role ${found.role}; audit table holds ${found.records ?? 0} records; ${config.databasePoolSize} connections per replica (USERS_MCP_DATABASE_POOL_SIZE). The audit log, write locks and preview key are kept there.`,
    );
    if (found.rewrite.length)
      lines.push(
        `  Warning: the server's role ${found.role} can rewrite the audit history: it ${found.rewrite.join(", ")}. Split the roles: let an owner role own the tables (USERS_MCP_DATABASE_ADMIN_URL) and run the server as a role that is granted INSERT and SELECT only (USERS_MCP_DATABASE_URL); README "Two roles" gives the SQL.`,
      );
    else lines.push(`  The server's role may only insert and read the audit table: it cannot rewrite the history.`);
    return false;
  } catch (err) {
    lines.push(`${name}: NOT usable (${(err as Error).message}). Every write will be refused until this is fixed.`);
    return true;
  } finally {
    await db.close();
  }
}

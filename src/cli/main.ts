#!/usr/bin/env node
import nodeModule from "node:module";
import { parseArgs } from "node:util";
import { createLogger, type Logger } from "../kernel/log.js";
import { redact, setServerSecrets } from "../kernel/redact.js";
import { VERSION } from "../kernel/version.js";
import { type Config, ConfigError, ENV_VARS, loadConfig, secretsOf } from "../settings/config.js";
import { type ResolvedSettings, resolveSettings, SettingsError, userEnvFile } from "../settings/files.js";
import { credentialRoutes } from "../settings/providers.js";
import { TOOL_CATALOG, TOOL_NAMES } from "../tools/catalog.js";
import { withSandbox } from "./sandbox.js";

// Node >= 22.1 keeps the compiled code of the modules loaded from here on (the SDK, the server, the
// tools) in its compile cache (under the OS temp directory, or NODE_COMPILE_CACHE), so a host's next start
// skips compiling them; NODE_DISABLE_COMPILE_CACHE=1 turns it off. Node 20 has no such cache.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

/** Tool names for --help, wrapped under the option's text. */
function wrap(names: readonly string[]): string {
  const lines: string[] = [];
  let line = "";
  for (const name of names) {
    const next = line ? `${line}, ${name}` : name;
    if (next.length > 50 && line) {
      lines.push(`${line},`);
      line = name;
    } else line = next;
  }
  lines.push(line);
  return lines.join(`\n${" ".repeat(22)}`);
}

const HELP = `users-mcp ${VERSION}: an MCP server for user accounts on Leadping, LeadConnector (HighLevel) and 2SMS.

Usage:
  users-mcp [options]           start the MCP server on stdio (what MCP hosts run)
  users-mcp doctor [options]    check the configuration and each configured provider, then exit
  users-mcp audit [options]     show recent writes from the audit log (--json, --target ID, --since ISO, --limit N;
                                --reconcile first settles writes left in doubt by reading their records)

Options:
  --http              serve MCP Streamable HTTP at /mcp instead of stdio (stateless; see README "Remote mode")
  --port N            port for --http (default 8787; also USERS_MCP_HTTP_PORT)
  --host ADDR         address for --http (default 127.0.0.1; also USERS_MCP_HTTP_HOST)
  --sandbox           run against the built-in sandbox (fake upstreams, demo data, no credentials needed)
  --read-only         expose only the read tools (${wrap(TOOL_NAMES.filter((n) => TOOL_CATALOG[n].kind === "read"))})
  --tools a,b         expose only the named tools (${wrap(TOOL_NAMES)})
  --settings PATH     read settings from this env file (also USERS_MCP_ENV_FILE); a .env in the
                      working directory is never read unless named here
  -h, --help          show this help
  -v, --version       print the version

Settings come from the environment (your MCP host's env block), then from one env file: the one named by
--settings or USERS_MCP_ENV_FILE, else ${userEnvFile(process.env)} if it exists. Real environment
variables win. Base URLs must be https:// (plain http:// only to a loopback host).

Environment:
${ENV_VARS.map((v) => `  ${v.name.padEnd(36)} ${v.meaning}`).join("\n")}

Logs go to stderr; stdout carries only MCP messages.`;

function fail(message: string, code = 1): never {
  process.stderr.write(`users-mcp: ${redact(message)}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(process.argv.slice(2));
  } catch (err) {
    fail(`${cliError(err)}\nRun users-mcp --help for the options.`, 2);
  }
  const { values, command } = parsed;
  if (values.help) {
    process.stdout.write(`${HELP}\n`); // allow-stdout: --help is not the MCP server
    return;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`); // allow-stdout: --version is not the MCP server
    return;
  }

  // Settings come only from places the user chose (see src/settings/files.ts): never the working directory's .env.
  let settings: ResolvedSettings;
  try {
    settings = resolveSettings({ settingsFlag: values.settings, env: process.env });
  } catch (err) {
    if (err instanceof SettingsError) fail(err.message);
    throw err;
  }

  let config: Config;
  try {
    config = loadConfig(
      settings.env,
      {
        ...(values["read-only"] ? { readOnly: true } : {}),
        ...(values.tools !== undefined ? { tools: values.tools } : {}),
        ...(values.sandbox ? { sandbox: true } : {}),
        ...(values.port !== undefined ? { httpPort: Number(values.port) } : {}),
        ...(values.host !== undefined ? { httpHost: values.host } : {}),
        ...(values.http ? { http: true } : {}),
      },
      settings.sources,
    );
  } catch (err) {
    if (err instanceof ConfigError)
      fail(
        `${err.message}\nFix the variables above (in the host's MCP config \`env\` block${settings.file ? ` or ${settings.file}` : ""}) and start again.`,
      );
    throw err;
  }
  setServerSecrets(secretsOf(config));
  const logger = createLogger(config.logLevel);
  for (const n of settings.notices) logger[n.level](n.message);

  if (command !== undefined)
    // A report piped into `head` ends when the reader closes the pipe: end quietly, not with a stack trace.
    process.stdout.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw err;
    });
  if (command === "audit") {
    const { runAuditCommand } = await import("./audit.js");
    process.exitCode = await runAuditCommand(config, values, (s) => process.stdout.write(s), logger); // allow-stdout: audit is a CLI report
    return;
  }
  const sandbox = await withSandbox(config);
  if (command === "doctor") {
    const { runDoctor } = await import("./doctor.js");
    try {
      process.exitCode = await runDoctor(sandbox.config, (s) => process.stdout.write(s), settings.file); // allow-stdout: doctor is a CLI report
    } finally {
      await sandbox.close();
    }
    return;
  }
  if (values.http) await serveRemote(sandbox, logger);
  else await serveLocal(sandbox, logger, settings.file);
}

/** stdio: what MCP hosts run. */
async function serveLocal(sandbox: Sandboxed, logger: Logger, settingsFile: string | undefined): Promise<void> {
  const { config } = sandbox;
  const { serveStdio } = await import("../transport/stdio.js");
  logUncaught(logger);
  const routes = credentialRoutes(config);
  const ready = sandbox.sandboxUrl
    ? `users-mcp ${VERSION} ready on stdio in SANDBOX mode: fake upstreams at ${sandbox.sandboxUrl}, demo data only, nothing real is touched; ${sandboxAuditWords(config)}`
    : `users-mcp ${VERSION} ready on stdio; ${routes.some((r) => r.configured) ? routes.map((r) => r.summary).join("; ") : "no provider configured (tools will say which variables to set)"}${settingsFile ? `; settings file ${settingsFile}` : ""}`;
  try {
    await serveStdio(config, logger, ready, () => sandbox.close());
  } catch (err) {
    await sandbox.close();
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  if (config.placeholders.length)
    logger.warn(`ignoring placeholder values in ${config.placeholders.join(", ")}: set real values to use them`);
}

type Sandboxed = Awaited<ReturnType<typeof withSandbox>>;

/** Where the sandbox's fake writes are recorded (its own file unless USERS_MCP_AUDIT_LOG names one). */
function sandboxAuditWords(config: Config): string {
  if (config.databaseUrl) return "its writes are recorded in PostgreSQL (USERS_MCP_DATABASE_URL), marked sandbox";
  return config.auditLog ? `its writes are recorded in ${config.auditLog}` : "no audit log (USERS_MCP_AUDIT_LOG=off)";
}

/** A bug that escapes a call is logged (redacted, to stderr) and the server keeps serving the others. */
function logUncaught(logger: Logger): void {
  process.on("uncaughtException", (err) => logger.error("uncaught exception", { error: err.stack ?? String(err) }));
  process.on("unhandledRejection", (err) =>
    logger.error("unhandled rejection", { error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
}

/** --http: the remote mode (src/transport/http.ts), with the sandbox when asked, until SIGTERM or SIGINT. */
async function serveRemote(sandbox: Sandboxed, logger: Logger): Promise<void> {
  const { config } = sandbox;
  const { serveHttp } = await import("../transport/http.js");
  let handle: Awaited<ReturnType<typeof serveHttp>>;
  try {
    handle = await serveHttp(config, logger);
  } catch (err) {
    await sandbox.close();
    if (err instanceof ConfigError) fail(`${err.message}`);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL")
      fail(`cannot listen on ${config.http.host}:${config.http.port} (${code}): choose another --port or --host`);
    throw err;
  }
  const stop = (why: string) => {
    void handle.drain(why).then(async () => {
      await sandbox.close();
      process.exit(0);
    });
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  logUncaught(logger);
  const mode =
    config.http.credentials === "caller"
      ? "caller credentials (each request brings its own X-Leadping-Token, X-LeadConnector-Token, X-TwoSMS-* headers)"
      : config.sandbox
        ? `SANDBOX: fake upstreams, demo data only; ${sandboxAuditWords(config)}`
        : credentialRoutes(config)
            .filter((r) => r.configured)
            .map((r) => r.summary)
            .join("; ") || "no provider configured";
  logger.info(`users-mcp ${VERSION} serving MCP over HTTP at ${handle.url} (stateless; ${authInForce(config)}); ${mode}`);
}

/** How callers sign in, for the start-up line: the auth actually in force, never a guess. */
function authInForce(config: Config): string {
  const { oauth, token } = config.http;
  if (oauth)
    return `OAuth: issuer ${oauth.issuer}, resource ${oauth.resource}, ${oauth.clientId ? "JWTs and opaque tokens (introspection)" : "JWT access tokens"}; scope users:write for write tools, users:read for the rest`;
  if (token) return "bearer token required (USERS_MCP_HTTP_TOKEN)";
  return config.http.credentials === "caller"
    ? "no endpoint token: each request signs in upstream with its own credentials"
    : "no endpoint token: sandbox on this machine only";
}

function parseCli(argv: string[]) {
  // Node itself reads --env-file from anywhere on its command line (nodejs/node#54232), before this
  // server runs: such a file could set NODE_OPTIONS and run code. This server never takes that flag.
  if (
    argv.some(
      (a) => a === "--env-file" || a.startsWith("--env-file=") || a === "--env-file-if-exists" || a.startsWith("--env-file-if-exists="),
    )
  )
    throw new Error(
      "--env-file is not an option of users-mcp: Node itself reads that flag (and would load the file before this server starts). Use --settings PATH to name a settings file",
    );
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
      sandbox: { type: "boolean" },
      http: { type: "boolean" },
      port: { type: "string" },
      host: { type: "string" },
      "read-only": { type: "boolean" },
      tools: { type: "string" },
      settings: { type: "string" },
      json: { type: "boolean" },
      target: { type: "string" },
      since: { type: "string" },
      limit: { type: "string" },
      reconcile: { type: "boolean" },
    },
  });
  const [command, ...extra] = positionals;
  if (command !== undefined && command !== "doctor" && command !== "audit") throw new Error(`unknown command "${command}"`);
  if (command !== "audit")
    for (const f of ["json", "target", "since", "limit", "reconcile"] as const)
      if (values[f] !== undefined) throw new Error(`--${f} goes with the audit command`);
  if (!values.http) for (const f of ["port", "host"] as const) if (values[f] !== undefined) throw new Error(`--${f} goes with --http`);
  if (values.port !== undefined && (!/^\d+$/.test(values.port) || Number(values.port) > 65535))
    throw new Error(`--port must be a port number from 0 to 65535, got "${values.port}"`);
  if (extra.length) throw new Error(`unexpected argument "${extra[0]}"`);
  return { values, command };
}

/** parseArgs's own messages quote unevenly ("Unknown option '--x'. To specify ..."): say it plainly. */
function cliError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const flag = /'([^']+)'/.exec(e.message ?? "")?.[1] ?? "";
    return `unknown option ${flag}`;
  }
  if (e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const flag = /(--[\w-]+)/.exec(e.message ?? "")?.[1];
    return flag ? `${flag} needs a value` : (e.message ?? String(err));
  }
  return e.message ?? String(err);
}

main().catch((err: unknown) => {
  fail(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
});

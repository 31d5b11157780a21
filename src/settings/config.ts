import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { LOG_LEVELS, type LogLevel } from "../kernel/log.js";

/**
 * The server's whole configuration, read from the environment once at start-up.
 *
 * A provider without credentials is not an error here: its tools answer with an
 * `isError` result that names the variable to set, and the other tools keep working.
 * A malformed value is an error: start-up stops and every problem is listed at once.
 */
export interface Config {
  timeoutMs: number;
  logLevel: LogLevel;
  allowCredentialChanges: boolean;
  readOnly: boolean;
  /** Allowlist of tool names; undefined means every tool. */
  tools: string[] | undefined;
  sandbox: boolean;
  leadping: { baseUrl: string; token: string | undefined };
  leadconnector: {
    baseUrl: string;
    token: string | undefined;
    apiVersion: string;
    /** Default company (agency) id for search_users. */
    companyId: string | undefined;
    /** Default location (sub-account) id for search_users. */
    locationId: string | undefined;
  };
  twosms: {
    baseUrl: string;
    clientId: string | undefined;
    clientSecret: string | undefined;
    accessToken: string | undefined;
  };
  /** Variables that hold an unfilled placeholder such as `<your token>`: treated as unset. */
  placeholders: string[];
  /** Whether a person confirms sensitive writes (MCP elicitation), and how long they have to answer. */
  confirm: { mode: ConfirmMode; timeoutMs: number };
  /** The audit log's path; undefined when USERS_MCP_AUDIT_LOG=off. */
  auditLog: string | undefined;
  /** Key for signing preview tokens, shared by processes that must accept each other's; else a random one. */
  previewKey: string | undefined;
  /** PostgreSQL for the audit log, write locks and the preview key (USERS_MCP_DATABASE_URL); else the file. */
  databaseUrl: string | undefined;
  /** The owner role (USERS_MCP_DATABASE_ADMIN_URL): migrates, owns the tables, grants the run-time role. */
  databaseAdminUrl: string | undefined;
  /** Connections per replica (USERS_MCP_DATABASE_POOL_SIZE). */
  databasePoolSize: number;
  /** The remote (Streamable HTTP) mode's settings; used with --http. */
  http: {
    /** OAuth 2.1 resource server: tokens from `issuer` for the resource `<publicUrl>/mcp`. */
    oauth:
      | {
          issuer: string;
          publicUrl: string;
          resource: string;
          clientId: string | undefined;
          clientSecret: string | undefined;
        }
      | undefined;
    port: number;
    host: string;
    /** Bearer token every request must carry (server-credentials mode: required). */
    token: string | undefined;
    /** server: upstream credentials from this configuration; caller: each request brings its own. */
    credentials: "server" | "caller";
    /** Host header values accepted (hostnames, port ignored). */
    allowedHosts: string[];
    /** Origin header values accepted, when a request has one. */
    allowedOrigins: string[];
    /** Requests handled at once; past it, 503 with Retry-After. */
    maxInFlight: number;
    /** How long calls under way may take to finish after SIGTERM. */
    graceMs: number;
    /** How long a client may take to send a request's headers. */
    headersTimeoutMs: number;
  };
  /** Where each variable that is set came from: "environment" or an env file's path (unset ones are defaults). */
  sources: Record<string, string>;
  /** The values of the settings marked secret, as given. */
  secrets: string[];
}

export { LOG_LEVELS, type LogLevel };
export const CONFIRM_MODES = ["off", "ask", "require"] as const;
export type ConfirmMode = (typeof CONFIRM_MODES)[number];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const PLACEHOLDER = /^(<[^>]*>|\$\{[^}]*\}|your[-_ ].*|changeme|xxx+)$/i;

/**
 * A host that stays on this machine: 127.0.0.0/8, ::1 (also IPv4-mapped) or localhost. Only these may
 * be reached over plain http, since a bearer token must never cross a network in clear text.
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return true;
  // WHATWG URL writes ::ffff:127.0.0.1 as ::ffff:7f00:1
  return /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(h);
}

function httpUrl(name: string, fallback: string) {
  return z
    .string()
    .default(fallback)
    .superRefine(checkUrl(name))
    .transform((value) => value.replace(/\/+$/, ""));
}

/** An https:// URL (http:// on loopback only), or unset; trailing slashes dropped unless `exact` (an issuer is compared as written). */
function optionalHttpUrl(name: string, exact = false) {
  return z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value !== undefined) checkUrl(name)(value.trim(), ctx);
    })
    .transform((value) => (exact ? value?.trim() : value?.trim().replace(/\/+$/, "")));
}

function checkUrl(name: string) {
  return (value: string, ctx: z.RefinementCtx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: "custom", message: `${name} must be an https:// URL, got "${value}"` });
      return;
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      ctx.addIssue({ code: "custom", message: `${name} must use https://, got "${url.protocol}"` });
    } else if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
      ctx.addIssue({
        code: "custom",
        message: `${name} must use https:// (got "${url.origin}"): the credential would travel in clear text. Plain http:// is accepted only for a loopback host (127.0.0.1, ::1, localhost)`,
      });
    } else if (url.username || url.password) {
      ctx.addIssue({ code: "custom", message: `${name} must not carry credentials in the URL` });
    } else if (url.search || url.hash) {
      ctx.addIssue({ code: "custom", message: `${name} must not have a query string or fragment` });
    }
  };
}

/** A whole number from `min` to `max`; `unit` words the error ("milliseconds"). */
function wholeNumber(name: string, fallback: number, min: number, max: number, unit = "") {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return fallback;
      const n = Number(value.trim());
      if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
        ctx.addIssue({
          code: "custom",
          message: `${name} must be a ${min > 0 ? "positive " : ""}whole number${unit ? ` of ${unit}` : ""}, got "${value}"`,
        });
        return z.NEVER;
      }
      if (n > max) {
        ctx.addIssue({
          code: "custom",
          message: `${name} must be at most ${max}${unit === "milliseconds" ? ` (${max / 60_000} minutes)` : ""}, got ${n}`,
        });
        return z.NEVER;
      }
      return n;
    });
}

const milliseconds = (name: string, fallback: number, max: number) => wholeNumber(name, fallback, 1, max, "milliseconds");

/** One of a few words, case-insensitive. */
function choice<T extends string>(name: string, values: readonly T[], fallback: T) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return fallback;
      const v = value.trim().toLowerCase();
      if ((values as readonly string[]).includes(v)) return v as T;
      ctx.addIssue({ code: "custom", message: `${name} must be one of ${values.join(", ")}, got "${value}"` });
      return z.NEVER;
    });
}

function plainId(name: string) {
  return z
    .string()
    .optional()
    .refine((v) => v === undefined || /^[A-Za-z0-9_-]{1,100}$/.test(v), {
      message: `${name} must be a plain id (letters, digits, _ and -)`,
    });
}

function flag(name: string) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return false;
      const v = value.trim().toLowerCase();
      if (["1", "true", "yes", "on"].includes(v)) return true;
      if (["0", "false", "no", "off"].includes(v)) return false;
      ctx.addIssue({ code: "custom", message: `${name} must be true or false, got "${value}"` });
      return z.NEVER;
    });
}

const text = () => z.string().optional();

/** A setting: what it means (for --help, README and the settings-file templates), how it is read, whether it is a secret. */
interface Setting<S extends z.ZodType> {
  meaning: string;
  schema: S;
  secret?: true;
}
const setting = <S extends z.ZodType>(meaning: string, schema: S, secret?: "secret"): Setting<S> =>
  secret ? { meaning, schema, secret: true } : { meaning, schema };

/**
 * Every variable the server reads, once: its meaning, its schema, and whether it holds a secret. The
 * zod schema of the environment, `--help`, the secrets scrubbed from every output, and the tests that
 * README, .env.example, server.json and the bundle manifest name every setting are all derived from it.
 */
export const SETTINGS = {
  LEADPING_API_TOKEN: setting("Leadping bearer token (user JWT, sk_ org key or agent token)", text(), "secret"),
  LEADPING_BASE_URL: setting(
    "Leadping API base URL (default https://api.leadping.ai)",
    httpUrl("LEADPING_BASE_URL", "https://api.leadping.ai"),
  ),
  LEADCONNECTOR_TOKEN: setting("LeadConnector OAuth access token or Private Integration Token (pit-…)", text(), "secret"),
  LEADCONNECTOR_BASE_URL: setting(
    "LeadConnector API base URL (default https://services.leadconnectorhq.com)",
    httpUrl("LEADCONNECTOR_BASE_URL", "https://services.leadconnectorhq.com"),
  ),
  LEADCONNECTOR_API_VERSION: setting(
    "LeadConnector Version header (default 2021-07-28)",
    z
      .string()
      .default("2021-07-28")
      .refine((v) => /^\d{4}-\d{2}-\d{2}$/.test(v), { message: "LEADCONNECTOR_API_VERSION must be a date such as 2021-07-28" }),
  ),
  LEADCONNECTOR_COMPANY_ID: setting(
    "LeadConnector company (agency) id that search_users searches by default",
    plainId("LEADCONNECTOR_COMPANY_ID"),
  ),
  LEADCONNECTOR_LOCATION_ID: setting(
    "LeadConnector location (sub-account) id that search_users narrows to by default",
    plainId("LEADCONNECTOR_LOCATION_ID"),
  ),
  TWOSMS_BASE_URL: setting(
    "2SMS portal host (default https://portal.2sms.us; UK: https://portal.2sms.com)",
    httpUrl("TWOSMS_BASE_URL", "https://portal.2sms.us"),
  ),
  TWOSMS_CLIENT_ID: setting("2SMS OAuth client id (with TWOSMS_CLIENT_SECRET)", text()),
  TWOSMS_CLIENT_SECRET: setting("2SMS OAuth client secret", text(), "secret"),
  TWOSMS_ACCESS_TOKEN: setting("2SMS access token obtained elsewhere (instead of client id/secret)", text(), "secret"),
  USERS_MCP_TIMEOUT_MS: setting(
    "deadline for a whole tool call, in milliseconds (default 15000)",
    milliseconds("USERS_MCP_TIMEOUT_MS", 15_000, 600_000),
  ),
  USERS_MCP_LOG_LEVEL: setting(
    "error | warn | info | debug (default info); logs go to stderr",
    choice("USERS_MCP_LOG_LEVEL", LOG_LEVELS, "info"),
  ),
  USERS_MCP_ALLOW_CREDENTIAL_CHANGES: setting(
    "true to let tools set passwords and PINs (default false)",
    flag("USERS_MCP_ALLOW_CREDENTIAL_CHANGES"),
  ),
  USERS_MCP_READ_ONLY: setting("true to expose only read tools (default false)", flag("USERS_MCP_READ_ONLY")),
  USERS_MCP_TOOLS: setting("comma-separated allowlist of tool names (default: all)", text()),
  USERS_MCP_SANDBOX: setting("1 to run against the built-in sandbox instead of the real APIs", flag("USERS_MCP_SANDBOX")),
  USERS_MCP_CONFIRM: setting(
    "off | ask | require: a person confirms sensitive writes through the host (default ask; require with --http)",
    choice("USERS_MCP_CONFIRM", CONFIRM_MODES, "ask"),
  ),
  USERS_MCP_CONFIRM_TIMEOUT_MS: setting(
    "how long a person has to answer a confirmation, in ms (default 120000; at most 15 minutes over MCP 2026-07-28)",
    milliseconds("USERS_MCP_CONFIRM_TIMEOUT_MS", 120_000, 3_600_000),
  ),
  USERS_MCP_AUDIT_LOG: setting("audit log path, or off (default ~/.local/state/users-mcp/audit.jsonl)", text()),
  USERS_MCP_PREVIEW_KEY: setting(
    "key (32+ characters) signing preview tokens and sealing confirmation states, when several processes (replicas) share them",
    z
      .string()
      .optional()
      .refine((v) => v === undefined || v.length >= 32, {
        message: "USERS_MCP_PREVIEW_KEY must be at least 32 characters (for example: openssl rand -hex 32)",
      }),
    "secret",
  ),
  USERS_MCP_HTTP_PORT: setting("port for --http (default 8787)", wholeNumber("USERS_MCP_HTTP_PORT", 8787, 0, 65535)),
  USERS_MCP_HTTP_HOST: setting("address for --http to listen on (default 127.0.0.1)", text()),
  USERS_MCP_HTTP_TOKEN: setting(
    "bearer token every HTTP request must carry (required with --http; only --sandbox on a loopback --host may omit it)",
    z
      .string()
      .optional()
      .refine((v) => v === undefined || v.length >= 16, {
        message: "USERS_MCP_HTTP_TOKEN must be at least 16 characters (for example: openssl rand -hex 32)",
      })
      .refine((v) => v === undefined || !/\s/.test(v), {
        message:
          "USERS_MCP_HTTP_TOKEN contains whitespace, so no Authorization header can ever match it: use one unbroken value (for example: openssl rand -hex 32)",
      }),
    "secret",
  ),
  USERS_MCP_HTTP_CREDENTIALS: setting(
    "server (default) or caller: whether HTTP callers bring their own upstream credentials",
    choice("USERS_MCP_HTTP_CREDENTIALS", ["server", "caller"] as const, "server"),
  ),
  USERS_MCP_HTTP_ALLOWED_HOSTS: setting("comma-separated Host names --http answers (default localhost,127.0.0.1,::1)", text()),
  USERS_MCP_HTTP_ALLOWED_ORIGINS: setting("comma-separated Origins --http accepts when a request has one (default none)", text()),
  USERS_MCP_HTTP_MAX_IN_FLIGHT: setting(
    "HTTP requests handled at once; more get 503 with Retry-After (default 512)",
    wholeNumber("USERS_MCP_HTTP_MAX_IN_FLIGHT", 512, 1, 100_000),
  ),
  USERS_MCP_HTTP_GRACE_MS: setting(
    "after SIGTERM, how long calls under way may take to finish (default 20000)",
    milliseconds("USERS_MCP_HTTP_GRACE_MS", 20_000, 600_000),
  ),
  USERS_MCP_HTTP_HEADERS_TIMEOUT_MS: setting(
    "how long an HTTP client may take to send its request headers (default 10000)",
    milliseconds("USERS_MCP_HTTP_HEADERS_TIMEOUT_MS", 10_000, 120_000),
  ),
  USERS_MCP_OAUTH_ISSUER: setting(
    "OAuth 2.1 authorization server (issuer URL) whose access tokens --http accepts, instead of USERS_MCP_HTTP_TOKEN",
    optionalHttpUrl("USERS_MCP_OAUTH_ISSUER", true),
  ),
  USERS_MCP_PUBLIC_URL: setting(
    "this server's public base URL, with USERS_MCP_OAUTH_ISSUER: tokens must name <URL>/mcp as their audience",
    optionalHttpUrl("USERS_MCP_PUBLIC_URL"),
  ),
  USERS_MCP_OAUTH_CLIENT_ID: setting("client id for RFC 7662 introspection, for issuers whose access tokens are opaque", text()),
  USERS_MCP_OAUTH_CLIENT_SECRET: setting("client secret for RFC 7662 introspection", text(), "secret"),
  USERS_MCP_DATABASE_URL: setting(
    "postgres://… : the audit log, per-record write locks and the preview key in PostgreSQL, shared by every replica",
    z
      .string()
      .optional()
      .refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v.trim()), {
        message: "USERS_MCP_DATABASE_URL must be a postgres:// or postgresql:// URL",
      }),
    "secret",
  ),
  USERS_MCP_DATABASE_ADMIN_URL: setting(
    "postgres://… of the role that owns the tables: migrates them at start and grants USERS_MCP_DATABASE_URL's role INSERT and SELECT only",
    z
      .string()
      .optional()
      .refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v.trim()), {
        message: "USERS_MCP_DATABASE_ADMIN_URL must be a postgres:// or postgresql:// URL",
      }),
    "secret",
  ),
  USERS_MCP_DATABASE_POOL_SIZE: setting(
    "database connections per replica; a write holds one from its read to its outcome (default 10)",
    wholeNumber("USERS_MCP_DATABASE_POOL_SIZE", 10, 1, 1_000),
  ),
  // Read before the others, to find the file the rest may come from (settings/files.ts).
  USERS_MCP_ENV_FILE: setting("an env file to read settings from (as --settings; default ~/.config/users-mcp/.env)", text()),
};

type SettingName = keyof typeof SETTINGS;

/** Every setting's name and meaning, in the table's order: what --help lists. */
export const ENV_VARS: ReadonlyArray<{ name: string; meaning: string; secret?: true }> = Object.entries(SETTINGS).map(([name, s]) => ({
  name,
  meaning: s.meaning,
  ...(s.secret ? { secret: s.secret } : {}),
}));

const EnvSchema = z.object(
  Object.fromEntries(Object.entries(SETTINGS).map(([name, s]) => [name, s.schema])) as {
    [K in SettingName]: (typeof SETTINGS)[K]["schema"];
  },
);

export interface ConfigOverrides {
  readOnly?: boolean;
  tools?: string;
  sandbox?: boolean;
  httpPort?: number;
  httpHost?: string;
  /** Serving --http: sensitive writes need a person by default (USERS_MCP_CONFIRM=require). */
  http?: boolean;
}

/**
 * USERS_MCP_CONFIRM as set, else by transport: over stdio the person runs the host, whose own tool
 * approval stands in front of every call (ask); a shared --http server must not let any caller skip
 * the person by declaring no elicitation (require).
 */
function confirmMode(given: string | undefined, parsed: ConfirmMode, http: boolean | undefined): ConfirmMode {
  return given === undefined && http ? "require" : parsed;
}

/** A comma-separated list; undefined when the variable is unset. */
function list(value: string | undefined): string[] | undefined {
  return value
    ?.split(",")
    .map((v) => v.trim().toLowerCase())
    .filter(Boolean);
}

/**
 * Builds the configuration from an environment. Empty strings count as unset (hosts often
 * write `""` for a variable the user has not filled in), and so do obvious placeholders.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv | Record<string, string | undefined>,
  overrides: ConfigOverrides = {},
  sources: Record<string, string> = {},
): Config {
  const cleaned: Record<string, string> = {};
  const placeholders: string[] = [];
  for (const { name } of ENV_VARS) {
    const raw = env[name];
    if (raw === undefined) continue;
    const value = raw.trim();
    if (value === "") continue;
    if (PLACEHOLDER.test(value)) {
      placeholders.push(name);
      continue;
    }
    cleaned[name] = value;
  }

  const parsed = EnvSchema.safeParse(cleaned);
  const problems: string[] = parsed.success ? [] : parsed.error.issues.map((i) => i.message);

  if (parsed.success) {
    const e = parsed.data;
    if (e.TWOSMS_CLIENT_ID && !e.TWOSMS_CLIENT_SECRET && !e.TWOSMS_ACCESS_TOKEN) {
      problems.push("TWOSMS_CLIENT_ID is set but TWOSMS_CLIENT_SECRET is not: set both (or TWOSMS_ACCESS_TOKEN instead)");
    }
    if (e.TWOSMS_CLIENT_SECRET && !e.TWOSMS_CLIENT_ID) {
      problems.push("TWOSMS_CLIENT_SECRET is set but TWOSMS_CLIENT_ID is not: set both (or TWOSMS_ACCESS_TOKEN instead)");
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const e = parsed.data;

  const toolsRaw = overrides.tools ?? e.USERS_MCP_TOOLS;
  const tools = toolsRaw
    ?.split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");

  return {
    timeoutMs: e.USERS_MCP_TIMEOUT_MS,
    logLevel: e.USERS_MCP_LOG_LEVEL,
    allowCredentialChanges: e.USERS_MCP_ALLOW_CREDENTIAL_CHANGES,
    readOnly: overrides.readOnly ?? e.USERS_MCP_READ_ONLY,
    tools: tools && tools.length > 0 ? tools : undefined,
    sandbox: overrides.sandbox ?? e.USERS_MCP_SANDBOX,
    leadping: { baseUrl: e.LEADPING_BASE_URL, token: e.LEADPING_API_TOKEN },
    leadconnector: {
      baseUrl: e.LEADCONNECTOR_BASE_URL,
      token: e.LEADCONNECTOR_TOKEN,
      apiVersion: e.LEADCONNECTOR_API_VERSION,
      companyId: e.LEADCONNECTOR_COMPANY_ID,
      locationId: e.LEADCONNECTOR_LOCATION_ID,
    },
    twosms: {
      baseUrl: e.TWOSMS_BASE_URL,
      clientId: e.TWOSMS_CLIENT_ID,
      clientSecret: e.TWOSMS_CLIENT_SECRET,
      accessToken: e.TWOSMS_ACCESS_TOKEN,
    },
    confirm: {
      mode: confirmMode(cleaned.USERS_MCP_CONFIRM, e.USERS_MCP_CONFIRM, overrides.http),
      timeoutMs: e.USERS_MCP_CONFIRM_TIMEOUT_MS,
    },
    auditLog: auditLogPath(e.USERS_MCP_AUDIT_LOG, env, overrides.sandbox ?? e.USERS_MCP_SANDBOX),
    http: {
      port: overrides.httpPort ?? e.USERS_MCP_HTTP_PORT,
      host: overrides.httpHost ?? e.USERS_MCP_HTTP_HOST ?? "127.0.0.1",
      token: e.USERS_MCP_HTTP_TOKEN,
      credentials: e.USERS_MCP_HTTP_CREDENTIALS,
      allowedHosts: list(e.USERS_MCP_HTTP_ALLOWED_HOSTS) ?? ["localhost", "127.0.0.1", "::1"],
      allowedOrigins: list(e.USERS_MCP_HTTP_ALLOWED_ORIGINS) ?? [],
      maxInFlight: e.USERS_MCP_HTTP_MAX_IN_FLIGHT,
      graceMs: e.USERS_MCP_HTTP_GRACE_MS,
      headersTimeoutMs: e.USERS_MCP_HTTP_HEADERS_TIMEOUT_MS,
      oauth:
        e.USERS_MCP_OAUTH_ISSUER && e.USERS_MCP_PUBLIC_URL
          ? {
              issuer: e.USERS_MCP_OAUTH_ISSUER,
              publicUrl: e.USERS_MCP_PUBLIC_URL,
              resource: `${e.USERS_MCP_PUBLIC_URL}/mcp`,
              clientId: e.USERS_MCP_OAUTH_CLIENT_ID,
              clientSecret: e.USERS_MCP_OAUTH_CLIENT_SECRET,
            }
          : undefined,
    },
    databaseUrl: e.USERS_MCP_DATABASE_URL?.trim(),
    databaseAdminUrl: e.USERS_MCP_DATABASE_ADMIN_URL?.trim(),
    databasePoolSize: e.USERS_MCP_DATABASE_POOL_SIZE,
    previewKey: e.USERS_MCP_PREVIEW_KEY,
    secrets: ENV_VARS.filter((v) => v.secret && cleaned[v.name] !== undefined).map((v) => cleaned[v.name] as string),
    placeholders,
    sources: Object.fromEntries(Object.keys(cleaned).map((name) => [name, sources[name] ?? "environment"])),
  };
}

/**
 * The audit log: USERS_MCP_AUDIT_LOG (a path, or off), else $XDG_STATE_HOME/users-mcp/audit.jsonl,
 * else ~/.local/state/users-mcp/audit.jsonl. The sandbox's fake writes go to sandbox-audit.jsonl beside
 * it, so the real log never lists writes of a trial that no later session can undo.
 */
export function auditLogPath(value: string | undefined, env: Record<string, string | undefined>, sandbox = false): string | undefined {
  if (value !== undefined) {
    if (["off", "false", "0", "no", "none"].includes(value.trim().toLowerCase())) return undefined;
    return resolve(value);
  }
  const state = env.XDG_STATE_HOME?.trim();
  const base = state && isAbsolute(state) ? state : join(env.HOME?.trim() || homedir(), ".local", "state");
  return join(base, "users-mcp", sandbox ? "sandbox-audit.jsonl" : "audit.jsonl");
}

/** Where a setting's value came from, for people: "environment", "file PATH", or "default". */
export function sourceOf(config: Pick<Config, "sources">, name: string): string {
  const s = config.sources[name];
  return s === undefined ? "default" : s === "environment" ? "environment" : `file ${s}`;
}

/** The secret values in force (every setting the table marks secret), so that every output path can scrub them. */
export function secretsOf(config: Config): string[] {
  // A database URL's password is a secret of its own: a driver's message may quote it without the URL.
  const passwords: string[] = [];
  for (const url of [config.databaseUrl, config.databaseAdminUrl])
    try {
      if (url) passwords.push(decodeURIComponent(new URL(url).password));
    } catch {
      // not a URL that parses: the whole value is scrubbed as it is
    }
  return [...config.secrets, ...passwords].filter((s) => s.length >= 4);
}

import type { z } from "zod";
import { DatabaseUnavailable } from "../audit/database.js";
import { InputError, UpstreamError, type UpstreamErrorCode } from "../client/errors.js";
import { stripInvisible } from "../kernel/redact.js";
import { RefusalError } from "../kernel/refusal.js";
import { defOf } from "../kernel/zod-defs.js";
import type { Config } from "../settings/config.js";
import { adviceOf, PROVIDERS, type ProviderFacts } from "../settings/providers.js";

function seconds(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  return s === 1 ? "1 second" : `${s} seconds`;
}

/** What describing an error needs of the tool that met it: its name and its own next steps. */
export interface ErrorSource {
  name: string;
  errorHints?: Partial<Record<UpstreamErrorCode, string>> | undefined;
}

/** Turns any error a tool call can meet into words an agent can act on, with no secret in them. */
export function describeError(err: unknown, tool: ErrorSource | undefined, config: Config): string {
  if (err instanceof RefusalError) return err.message;
  if (err instanceof DatabaseUnavailable)
    return `Refused: ${err.message}. The write history is kept there, so it cannot be read or undone right now; nothing was written. Reads of the platforms still work; try again when the database is back.`;
  if (err instanceof InputError) {
    const name = tool ? ` for ${tool.name}` : "";
    return `Invalid arguments${name}:\n${err.issues.map((i) => `- ${i.field}: ${i.message}`).join("\n")}\nNothing was sent upstream.`;
  }
  if (!(err instanceof UpstreamError)) {
    const message = err instanceof Error ? err.message : String(err);
    return `Internal error in users-mcp${tool ? ` while running ${tool.name}` : ""}: ${message}. This is a bug in the server, not in your input; the server keeps running. Please report it.`;
  }
  const p: ProviderFacts = PROVIDERS[err.provider];
  const lines: string[] = [];
  const status = err.status !== undefined ? ` (HTTP ${err.status})` : "";
  const what: Record<UpstreamErrorCode, string> = {
    not_configured: `${p.label} is not configured`,
    auth_failed: `${p.label} refused the client credentials${status}`,
    unauthorized: `${p.label} refused the credentials${status}`,
    forbidden: `${p.label} denied access${status}`,
    not_found: `${p.label} found nothing there${status}`,
    rejected: `${p.label} rejected the request${status}`,
    rate_limited: `${p.label} is rate-limiting these requests${status}`,
    server_error: `${p.label} failed with a server error${status}`,
    upstream_error: `${p.label} reported an error${status}`,
    http_error: `${p.label} answered with an unexpected status${status}`,
    bad_response: `${p.label} ${err.message}`,
    too_large: `${p.label} ${err.message}`,
    timeout: `${p.label} did not answer within the ${config.timeoutMs} ms deadline`,
    cancelled: "The call was cancelled by the client",
    network: `${p.label} ${err.message}`,
  };
  lines.push(`${what[err.code]}.`);
  if (err.upstreamMessages.length > 0) {
    lines.push(`${p.label} said: ${err.upstreamMessages.map((m) => `"${m}"`).join("; ")}`);
  }
  if (err.fieldErrors) {
    lines.push("Fields rejected:");
    for (const [field, msgs] of Object.entries(err.fieldErrors)) lines.push(`- ${field}: ${msgs.join("; ")}`);
  }

  const hint = tool?.errorHints?.[err.code] ?? adviceOf(err.provider, err.code) ?? genericAdvice(err, p, config);
  if (hint) lines.push(`Next step: ${hint}`);
  if (err.maybeApplied) {
    lines.push(
      err.attempts > 1
        ? `The write may or may not have been applied: it was sent ${err.attempts} times (each sends the same values, so repeating it is harmless). Read the record again before retrying.`
        : "The write may or may not have been applied before the failure, so it was not repeated automatically. Read the record again before retrying.",
    );
  }
  const facts: string[] = [];
  if (err.method && err.path) facts.push(`${err.method} ${err.path}`);
  if (err.attempts > 1) facts.push(`${err.attempts} attempts`);
  if (err.requestId) facts.push(`request id ${err.requestId}`);
  if (facts.length) lines.push(`(${facts.join(", ")})`);
  return lines.join("\n");
}

function genericAdvice(err: UpstreamError, p: ProviderFacts, config: Config): string | undefined {
  switch (err.code) {
    case "rate_limited": {
      const parts: string[] = [];
      if (err.retryAfterMs !== undefined) parts.push(`Retry after ${seconds(err.retryAfterMs)}.`);
      else parts.push("Wait before retrying (no Retry-After was given; try again in about a minute).");
      const rl = err.rateLimit;
      if (rl?.dailyRemaining === 0) parts.push(`The daily quota${rl.dailyLimit ? ` of ${rl.dailyLimit}` : ""} is used up; retry tomorrow.`);
      else if (rl?.limit !== undefined && rl.intervalMs !== undefined)
        parts.push(`The limit is ${rl.limit} requests per ${seconds(rl.intervalMs)}.`);
      parts.push("Avoid calling tools in tight loops.");
      return parts.join(" ");
    }
    case "rejected":
      return "Change the fields named above and call again; the request was not applied.";
    case "http_error":
      if (err.status !== undefined && err.status >= 300 && err.status < 400)
        return `${p.baseUrlVar} (${p.baseUrl(config)}) answered with a redirect. If the API has moved, set ${p.baseUrlVar} to its new https:// address; this server never follows redirects, so a credential cannot be led elsewhere.`;
      return "This is on the provider's side; try again in a minute. If it persists, check the provider's status page.";
    case "server_error":
      return "This is on the provider's side; try again in a minute. If it persists, check the provider's status page.";
    case "upstream_error":
      return "Fix what the provider's message names and call again.";
    case "bad_response":
    case "too_large":
      return `Check that ${p.baseUrlVar} (${p.baseUrl(config)}) points at the ${p.label} API and not at a proxy or web page.`;
    case "timeout":
      return `Try again; if it keeps timing out, check that ${p.baseUrlVar} (${p.baseUrl(config)}) is reachable from this machine, or raise USERS_MCP_TIMEOUT_MS (now ${config.timeoutMs}).`;
    case "network":
      return `Check that ${p.baseUrlVar} (${p.baseUrl(config)}) is right and reachable from this machine (proxy, VPN, firewall), then try again.`;
    case "cancelled":
      return undefined;
    default:
      return `Check ${p.credentialVars}.`;
  }
}

/** Formats schema validation failures so that each names its field and says what to send instead. */
export function describeIssues(toolName: string, schema: z.ZodType, issues: z.core.$ZodIssue[], args?: unknown): InputError {
  const out: Array<{ field: string; message: string }> = [];
  for (const issue of flattenUnions(issues).slice(0, 20)) {
    const field = formatPath(issue.path);
    if (issue.code === "unrecognized_keys") {
      const allowed = allowedKeysAt(schema, issue.path);
      for (const key of issue.keys) {
        out.push({
          field: formatPath([...issue.path, key]),
          message: `unknown argument for ${toolName}${allowed ? (allowed.length ? `; allowed here: ${allowed.join(", ")}` : "; nothing is allowed here, remove it") : ""}`,
        });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === "invalid_type" && /received undefined/.test(message)) message = `required (${issue.expected})`;
    const shown =
      issue.code === "custom" || issue.code === "invalid_value" || issue.code === "invalid_format"
        ? offending(args, issue.path)
        : undefined;
    if (shown !== undefined) message = `${message} (got ${JSON.stringify(shown)})`;
    out.push({ field, message });
  }
  return new InputError(out);
}

/** Fields whose values are credentials: a refusal names the field, never the value. */
const CREDENTIAL_PATH = /pass|pin|secret|token|key/i;

/**
 * The value a refusal is about, when it is short text a model can recognise and correct ("ZZ" in a
 * list of states): a model fixes what it can see. Credentials and long or hidden values are not shown.
 */
function offending(args: unknown, path: ReadonlyArray<PropertyKey>): string | undefined {
  if (path.some((p) => typeof p === "string" && CREDENTIAL_PATH.test(p))) return undefined;
  let node = args;
  for (const part of path) {
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  if (typeof node !== "string" || node.length > 60 || stripInvisible(node) !== node) return undefined;
  return node;
}

/**
 * A union (a list field that takes an array or `{ add, remove }`) fails with one issue per branch. The
 * branches whose value was of the wrong type say nothing useful; when one branch had the right type,
 * its issues are the caller's real mistakes, at their real paths. When none did, one line says which
 * types are accepted.
 */
function flattenUnions(issues: z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const out: z.core.$ZodIssue[] = [];
  for (const issue of issues) {
    if (issue.code !== "invalid_union" || !Array.isArray(issue.errors)) {
      out.push(issue);
      continue;
    }
    const wrongType = (branch: z.core.$ZodIssue[]) =>
      branch.length === 1 && branch[0]?.code === "invalid_type" && branch[0].path.length === 0;
    const fitting = issue.errors.filter((b) => !wrongType(b));
    if (fitting.length === 1) {
      out.push(...flattenUnions((fitting[0] as z.core.$ZodIssue[]).map((i) => ({ ...i, path: [...issue.path, ...i.path] }))));
      continue;
    }
    const expected = issue.errors.flatMap((b) => (wrongType(b) ? [(b[0] as { expected?: string }).expected ?? "?"] : []));
    const hint = expected.includes("array") && expected.includes("object") ? ' (a full list, or {"add": [...], "remove": [...]})' : "";
    out.push({ ...issue, message: `expected ${[...new Set(expected)].join(" or ")}${hint}` });
  }
  return out;
}

/** An argument's place, e.g. `compliance.trustedFormCertificates[0].url`; long keys are shortened. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return "(arguments)";
  let s = "";
  for (const part of path) {
    const name = String(part);
    const key = name === "" ? '""' : name.length > 60 ? `${name.slice(0, 60)}…` : name;
    if (typeof part === "number") s += `[${part}]`;
    else s += s === "" ? key : `.${key}`;
  }
  return s;
}

function allowedKeysAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] | undefined {
  let node: unknown = schema;
  for (const part of path) {
    node = unwrap(node);
    const def = defOf(node);
    if (!def) return undefined;
    if (def.type === "object" && typeof part === "string") node = def.shape?.[part];
    else if (def.type === "array") node = def.element;
    else if (def.type === "record") node = def.valueType;
    else return undefined;
  }
  node = unwrap(node);
  const def = defOf(node);
  return def?.type === "object" ? Object.keys(def.shape ?? {}) : undefined;
}

function unwrap(node: unknown): unknown {
  for (let i = 0; i < 10; i++) {
    const def = defOf(node);
    if (!def) return node;
    if (def.type === "optional" || def.type === "nullable" || def.type === "default" || def.type === "readonly") node = def.innerType;
    else if (def.type === "pipe") node = def.in;
    else return node;
  }
  return node;
}

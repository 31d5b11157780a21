import { randomBytes } from "node:crypto";
import type { ClientCapabilities } from "@modelcontextprotocol/server";

/**
 * The `Mcp-Session-Id` this server gives a 2025 Streamable HTTP client at initialize. The server keeps
 * no session: the id itself carries what the host declared there (its elicitation modes and its name),
 * so that any replica answering a later call knows whether the host can be asked to confirm a change,
 * and names it on the audit record. Forging one gains nothing: a host that claims it can answer a
 * question and does not is only asked, and its silence writes nothing.
 */

const PREFIX = "u1";
const MAX_LENGTH = 1_024;

/** What a 2025 host declared at initialize, as far as this server uses it. */
export interface Declared {
  capabilities: ClientCapabilities;
  client: { name?: string | undefined; version?: string | undefined };
}

const text = (v: unknown, max: number) => (typeof v === "string" ? v.slice(0, max) : undefined);

/** A session id for an initialize request's parameters. */
export function issueSession(params: unknown): string {
  const p = (params ?? {}) as { capabilities?: { elicitation?: unknown }; clientInfo?: { name?: unknown; version?: unknown } };
  const e = p.capabilities?.elicitation;
  const modes = e && typeof e === "object" ? Object.keys(e).filter((k) => k === "form" || k === "url") : undefined;
  const body = { e: modes, n: text(p.clientInfo?.name, 100), v: text(p.clientInfo?.version, 50) };
  return `${PREFIX}.${Buffer.from(JSON.stringify(body)).toString("base64url")}.${randomBytes(16).toString("base64url")}`;
}

/** What a session id says the host declared; undefined when there is none or it is not one of this server's. */
export function readSession(id: string | undefined): Declared | undefined {
  if (!id || id.length > MAX_LENGTH || !id.startsWith(`${PREFIX}.`)) return undefined;
  try {
    const body = JSON.parse(Buffer.from(id.split(".")[1] ?? "", "base64url").toString("utf8")) as { e?: unknown; n?: unknown; v?: unknown };
    const modes = Array.isArray(body.e) ? body.e.filter((m) => m === "form" || m === "url") : undefined;
    const capabilities: ClientCapabilities = modes ? { elicitation: Object.fromEntries(modes.map((m) => [m, {}])) } : {};
    return { capabilities, client: { name: text(body.n, 100), version: text(body.v, 50) } };
  } catch {
    return undefined;
  }
}

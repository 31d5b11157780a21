import { TOOL_CATALOG, type ToolName } from "../tools/catalog.js";
import { type Grant, READ_SCOPE, WRITE_SCOPE } from "./oauth.js";

/**
 * The scope a tool needs, by its kind in the catalog: a tool that can change an upstream (a write,
 * with a provider or, like revert_write, through the audit log) needs users:write; a read needs
 * users:read. A name the catalog does not hold needs users:write: what is not known to be a read is
 * treated as a write.
 */
export function scopeForTool(name: string): typeof READ_SCOPE | typeof WRITE_SCOPE {
  return Object.hasOwn(TOOL_CATALOG, name) && TOOL_CATALOG[name as ToolName].kind === "read" ? READ_SCOPE : WRITE_SCOPE;
}

/** Whether a grant's scopes allow calling a tool: users:write includes reading. */
export function grantAllowsTool(grant: Grant, name: string): boolean {
  return grant.scopes.has(WRITE_SCOPE) || (scopeForTool(name) === READ_SCOPE && grant.scopes.has(READ_SCOPE));
}

/**
 * Whether a grant allows every message of a request: a tools/call needs its tool's scope; any other
 * method (initialize, tools/list, ping, ...) needs users:read or users:write.
 */
export function grantAllowsMessage(grant: Grant, message: unknown): boolean {
  const messages = Array.isArray(message) ? message : [message];
  for (const m of messages) {
    const { method, params } = (m ?? {}) as { method?: unknown; params?: { name?: unknown } };
    if (method === "tools/call") {
      if (!grantAllowsTool(grant, typeof params?.name === "string" ? params.name : "")) return false;
    } else if (!grant.scopes.has(READ_SCOPE) && !grant.scopes.has(WRITE_SCOPE)) return false;
  }
  return true;
}

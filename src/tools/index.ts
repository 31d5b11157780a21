import { type Config, ConfigError } from "../config.js";
import type { ToolDefinition } from "./define.js";
import { getCurrentUser } from "./get-current-user.js";
import { updateCompliance } from "./update-compliance.js";
import { updateGdpr } from "./update-gdpr.js";
import { updateUser } from "./update-user.js";

/** Every tool the server can expose, in the order tools/list shows them. */
// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous registry; each entry is typed where it is defined.
export const ALL_TOOLS: ReadonlyArray<ToolDefinition<any, any>> = [getCurrentUser, updateCompliance, updateUser, updateGdpr];

/**
 * The tools this configuration exposes: read-only mode keeps only tools annotated readOnlyHint,
 * and an allowlist keeps only the named ones. An unknown name is a configuration error, so a typo
 * does not silently hide a tool.
 */
export function selectTools(config: Pick<Config, "readOnly" | "tools">): ToolDefinition[] {
  const names = new Set(ALL_TOOLS.map((t) => t.name));
  if (config.tools) {
    const unknown = config.tools.filter((n) => !names.has(n));
    if (unknown.length) {
      throw new ConfigError([
        `USERS_MCP_TOOLS / --tools names unknown tool(s): ${unknown.join(", ")}. Valid tools: ${[...names].join(", ")}`,
      ]);
    }
  }
  return ALL_TOOLS.filter((t) => (!config.readOnly || t.annotations.readOnlyHint) && (!config.tools || config.tools.includes(t.name)));
}

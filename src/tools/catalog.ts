import { type Config, ConfigError } from "../settings/config.js";

/**
 * The tool names and whether each only reads, without their schemas: enough to check the
 * configuration at start-up, while the definitions load on the first tools/list or tools/call.
 * A test keeps this in step with the definitions.
 */
export const TOOL_CATALOG: ReadonlyArray<{ name: string; readOnly: boolean }> = [
  { name: "get_current_user", readOnly: true },
  { name: "update_compliance", readOnly: false },
  { name: "search_users", readOnly: true },
  { name: "get_user", readOnly: true },
  { name: "update_user", readOnly: false },
  { name: "get_gdpr_user", readOnly: true },
  { name: "update_gdpr", readOnly: false },
  { name: "list_writes", readOnly: true },
  { name: "revert_write", readOnly: false },
];

/**
 * The names of the tools this configuration exposes: read-only mode keeps only read tools, and an
 * allowlist keeps only the named ones. An unknown name is a configuration error, so a typo does
 * not silently hide a tool.
 */
export function selectToolNames(config: Pick<Config, "readOnly" | "tools">): string[] {
  const names = TOOL_CATALOG.map((t) => t.name);
  if (config.tools) {
    const unknown = config.tools.filter((n) => !names.includes(n));
    if (unknown.length) {
      throw new ConfigError([`USERS_MCP_TOOLS / --tools names unknown tool(s): ${unknown.join(", ")}. Valid tools: ${names.join(", ")}`]);
    }
  }
  return TOOL_CATALOG.filter((t) => (!config.readOnly || t.readOnly) && (!config.tools || config.tools.includes(t.name))).map(
    (t) => t.name,
  );
}

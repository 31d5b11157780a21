import type { Provider } from "../client/errors.js";
import { type Config, ConfigError } from "../settings/config.js";

/** A tool reads (changes nothing anywhere) or writes (changes a record upstream). */
export type ToolKind = "read" | "write";

/**
 * Every tool, once: its name, its kind and the upstream it calls (none for a tool over this server's
 * own audit log), in the order tools/list shows them. Annotations follow from these (`annotationsOf`),
 * and this is enough to check the configuration at start-up while the definitions, with their schemas,
 * load on the first tools/list or tools/call.
 */
export const TOOL_CATALOG = {
  get_current_user: { kind: "read", provider: "leadping" },
  update_compliance: { kind: "write", provider: "leadping" },
  search_users: { kind: "read", provider: "leadconnector" },
  get_user: { kind: "read", provider: "leadconnector" },
  update_user: { kind: "write", provider: "leadconnector" },
  get_gdpr_user: { kind: "read", provider: "twosms" },
  update_gdpr: { kind: "write", provider: "twosms" },
  list_writes: { kind: "read", provider: undefined },
  revert_write: { kind: "write", provider: undefined },
} as const satisfies Record<string, { kind: ToolKind; provider: Provider | undefined }>;

export type ToolName = keyof typeof TOOL_CATALOG;
export const TOOL_NAMES = Object.keys(TOOL_CATALOG) as ToolName[];

/** The tools that change a platform's record through the write pipeline: writes with a provider. */
export type WriteToolName = {
  [K in ToolName]: (typeof TOOL_CATALOG)[K] extends { kind: "write"; provider: Provider } ? K : never;
}[ToolName];
export const WRITE_TOOL_NAMES = TOOL_NAMES.filter(
  (n): n is WriteToolName => TOOL_CATALOG[n].kind === "write" && TOOL_CATALOG[n].provider !== undefined,
);

export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/**
 * What MCP hosts are told about a tool, from its kind: reads change nothing; every write may replace or
 * withdraw something (destructive) and, given the same arguments, leaves the same record (idempotent).
 * A tool reaches an open world when it calls an upstream; list_writes reads only this server's own log.
 */
export function annotationsOf(name: ToolName): ToolAnnotations {
  const { kind, provider } = TOOL_CATALOG[name];
  return {
    readOnlyHint: kind === "read",
    destructiveHint: kind === "write",
    idempotentHint: true,
    openWorldHint: kind === "write" || provider !== undefined,
  };
}

/**
 * The names of the tools this configuration exposes: read-only mode keeps only read tools, and an
 * allowlist keeps only the named ones. An unknown name is a configuration error, so a typo does
 * not silently hide a tool.
 */
export function selectToolNames(config: Pick<Config, "readOnly" | "tools">): ToolName[] {
  if (config.tools) {
    const unknown = config.tools.filter((n) => !Object.hasOwn(TOOL_CATALOG, n));
    if (unknown.length) {
      throw new ConfigError([
        `USERS_MCP_TOOLS / --tools names unknown tool(s): ${unknown.join(", ")}. Valid tools: ${TOOL_NAMES.join(", ")}`,
      ]);
    }
  }
  return TOOL_NAMES.filter((n) => (!config.readOnly || TOOL_CATALOG[n].kind === "read") && (!config.tools || config.tools.includes(n)));
}

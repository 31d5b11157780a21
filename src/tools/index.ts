import type { Config } from "../settings/config.js";
import { selectToolNames } from "./catalog.js";
import type { ToolDefinition } from "./define.js";
import { getCurrentUser } from "./get-current-user.js";
import { getGdprUser } from "./get-gdpr-user.js";
import { getUser } from "./get-user.js";
import { listWrites } from "./list-writes.js";
import { revertWrite } from "./revert-write.js";
import { searchUsers } from "./search-users.js";
import { updateCompliance } from "./update-compliance.js";
import { updateGdpr } from "./update-gdpr.js";
import { updateUser } from "./update-user.js";

/** Every tool the server can expose, in the order tools/list shows them. */
export const ALL_TOOLS: ReadonlyArray<ToolDefinition> = [
  getCurrentUser,
  updateCompliance,
  searchUsers,
  getUser,
  updateUser,
  getGdprUser,
  updateGdpr,
  listWrites,
  revertWrite,
];

/** The definitions of the tools this configuration exposes (see selectToolNames). */
export function selectTools(config: Pick<Config, "readOnly" | "tools">): ToolDefinition[] {
  const names = selectToolNames(config);
  return ALL_TOOLS.filter((t) => names.includes(t.name));
}

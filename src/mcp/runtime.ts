import { randomBytes } from "node:crypto";
import type { Tool } from "@modelcontextprotocol/server";
import { AuditIndex } from "../audit/history.js";
import { AuditLog } from "../audit/log.js";
import { LiveCalls } from "../client/call-context.js";
import { Gauge } from "../kernel/gauge.js";
import type { Logger } from "../kernel/log.js";
import type { Config } from "../settings/config.js";
import { selectToolNames } from "../tools/catalog.js";
import type { ToolDefinition } from "../tools/define.js";
import { ConfirmStates } from "../writes/confirm-state.js";
import { RecordQueues } from "../writes/lock.js";
import { PreviewTokens } from "../writes/preview.js";
import { toolListing } from "./listing.js";

/** The tools this configuration serves, loaded on first use. */
export interface Catalog {
  all: ReadonlyArray<ToolDefinition>;
  tools: ToolDefinition[];
  byName: Map<string, ToolDefinition>;
  listing: Tool[];
}

/**
 * What one process holds for every MCP server it makes (stdio makes one; the HTTP mode one per request):
 * made once, passed down, never a module global. Settings and logger, the tool catalog, the preview key,
 * the audit log and its index, the per-record write queues, the live calls' deadlines, and a count of
 * tool calls under way that a shutdown waits on.
 */
export interface Runtime {
  config: Config;
  logger: Logger;
  catalog(): Promise<Catalog>;
  previews: PreviewTokens;
  /** The sealed state of confirmations asked across round trips (MCP 2026-07-28), under the same key. */
  confirmStates: ConfirmStates;
  audit: AuditLog | undefined;
  /** The audit log indexed for list_writes and revert_write. */
  history: AuditIndex | undefined;
  /** Writes to one record run one at a time, in this process. */
  queues: RecordQueues;
  /** The calls under way: one timer for their deadlines, one listener per shutdown signal. */
  calls: LiveCalls;
  /** Tool calls under way, so that a shutdown can wait for them to answer. */
  busy: Gauge;
  close(): Promise<void>;
}

export function createRuntime(config: Config, logger: Logger): Runtime {
  selectToolNames(config); // a configuration error surfaces at start-up, not at the first call
  // The definitions (zod schemas, vocabularies) load on the first tools/list or tools/call, after
  // the host's initialize has been answered: start-up pays only for what initialize needs.
  let catalog: Promise<Catalog> | undefined;
  // One key for preview tokens and confirmation states: USERS_MCP_PREVIEW_KEY, or random per process.
  const key = config.previewKey ?? randomBytes(32);
  const audit = config.auditLog ? new AuditLog(config.auditLog, (m) => logger.warn(m)) : undefined;
  return {
    config,
    logger,
    catalog() {
      catalog ??= import("../tools/index.js").then(({ ALL_TOOLS, selectTools }) => {
        const tools = selectTools(config);
        return { all: ALL_TOOLS, tools, byName: new Map(tools.map((t) => [t.name, t])), listing: toolListing(tools) };
      });
      return catalog;
    },
    previews: new PreviewTokens(key),
    confirmStates: new ConfirmStates(key),
    audit,
    history: config.auditLog ? new AuditIndex(config.auditLog) : undefined,
    queues: new RecordQueues(),
    calls: new LiveCalls(),
    busy: new Gauge(),
    close: async () => audit?.close(),
  };
}

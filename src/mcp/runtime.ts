import type { Tool } from "@modelcontextprotocol/server";
import { Gauge } from "../kernel/gauge.js";
import type { Logger } from "../kernel/log.js";
import type { Config } from "../settings/config.js";
import { selectToolNames } from "../tools/catalog.js";
import type { ToolDefinition } from "../tools/define.js";
import { toolListings } from "./listings.js";
import type { RuntimeState } from "./state.js";

export type { RuntimeState } from "./state.js";

/** The tools this configuration serves, loaded on first use. */
export interface Catalog {
  all: ReadonlyArray<ToolDefinition>;
  tools: ToolDefinition[];
  byName: Map<string, ToolDefinition>;
}

/**
 * What one process holds for every MCP server it makes (stdio makes one; the HTTP mode one per request):
 * made once, passed down, never a module global. Settings and logger, the tool listing and catalog, a
 * count of tool calls under way that a shutdown waits on, and the state the calls share (`state()`).
 *
 * Start-up pays only for what initialize, server/discover and tools/list need: the listing is the one
 * the build rendered (src/mcp/listings.ts), and the tool definitions, the write path, the audit stores
 * and `pg` load with the first tool call.
 */
export interface Runtime {
  config: Config;
  logger: Logger;
  /** The tools/list entries of the tools this configuration serves. */
  listing(): Promise<Tool[]>;
  /** The tool definitions (schemas, handlers), loaded on the first call. */
  catalog(): Promise<Catalog>;
  /** The state tool calls share, made on first use. */
  state(): Promise<RuntimeState>;
  /** The state, when it has been made (for a readiness probe: it does not make it). */
  readonly loaded: RuntimeState | undefined;
  /** Tool calls under way, so that a shutdown can wait for them to answer. */
  busy: Gauge;
  /** With a database: makes the state, connects (migrating it) and keeps watching it; a database that is down only warns. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Write queues shared with another runtime, as two servers of one process share them (tests). */
  queuesOf?: Runtime;
}

export function createRuntime(config: Config, logger: Logger, options: RuntimeOptions = {}): Runtime {
  const names = selectToolNames(config); // a configuration error surfaces at start-up, not at the first call
  let catalog: Promise<Catalog> | undefined;
  let listing: Promise<Tool[]> | undefined;
  let state: Promise<RuntimeState> | undefined;
  let loaded: RuntimeState | undefined;
  const makeState = () => {
    state ??= Promise.all([import("./state.js"), options.queuesOf?.state()]).then(([{ createState }, shared]) => {
      loaded = createState(config, logger, shared?.queues);
      return loaded;
    });
    return state;
  };
  return {
    config,
    logger,
    listing() {
      listing ??= toolListings().then((all) => all.filter((t) => (names as string[]).includes(t.name)));
      return listing;
    },
    catalog() {
      catalog ??= import("../tools/index.js").then(({ ALL_TOOLS, selectTools }) => {
        const tools = selectTools(config);
        return { all: ALL_TOOLS, tools, byName: new Map(tools.map((t) => [t.name, t])) };
      });
      return catalog;
    },
    state: makeState,
    get loaded() {
      return loaded;
    },
    busy: new Gauge(),
    async start() {
      if (!config.databaseUrl) return;
      const { database } = await makeState();
      if (!database) return;
      database.watch();
      try {
        const version = await database.ready();
        logger.info(`database: connected, schema version ${version}`);
      } catch (err) {
        logger.warn(`database: ${(err as Error).message}; reads are served, writes are refused until it is back`);
      }
    },
    async close() {
      if (!state) return;
      const { questions, audit, database } = await state;
      await questions.close();
      await audit?.close();
      await database?.close();
    },
  };
}

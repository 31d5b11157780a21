import { existsSync } from "node:fs";
import type { Tool } from "@modelcontextprotocol/server";
import type { Clients } from "../client/index.js";
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
  /**
   * With a database: makes the state, connects (migrating it) and keeps watching it; a database that is down only warns.
   * Given the upstream clients, then settles in the background the writes a crash left in doubt (reconcile, as
   * `users-mcp audit --reconcile`): right after connecting with a database; with the audit file, with the first
   * tool call or a few seconds after start, whichever comes first, so that initialize and tools/list load nothing more.
   */
  start(clients?: () => Clients | Promise<Clients>): Promise<void>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Write queues shared with another runtime, as two servers of one process share them (tests). */
  queuesOf?: Runtime;
}

/** With the audit file, reconcile starts this long after start-up unless a tool call has made the state before. */
const FILE_RECONCILE_DELAY_MS = 3_000;

export function createRuntime(config: Config, logger: Logger, options: RuntimeOptions = {}): Runtime {
  const names = selectToolNames(config); // a configuration error surfaces at start-up, not at the first call
  let catalog: Promise<Catalog> | undefined;
  let listing: Promise<Tool[]> | undefined;
  let state: Promise<RuntimeState> | undefined;
  let loaded: RuntimeState | undefined;
  let reconcileWith: (() => void) | undefined; // set by start(): settles the file store once the state is made
  const makeState = () => {
    state ??= Promise.all([import("./state.js"), options.queuesOf?.state()]).then(([{ createState }, shared]) => {
      loaded = createState(config, logger, shared?.queues);
      return loaded;
    });
    if (reconcileWith) {
      const run = reconcileWith;
      reconcileWith = undefined;
      void state.then(run, () => undefined);
    }
    return state;
  };
  /** Settles the writes left in doubt, in the background; what it found is logged, an error only warns. */
  const reconcileInBackground = (clients: () => Clients | Promise<Clients>) => {
    void (async () => {
      const { audit, database } = await makeState();
      if (!audit) return undefined;
      const [{ reconcile }, { REVERTIBLE }, pgStore, { unsettledInFile }] = await Promise.all([
        import("../writes/reconcile.js"),
        import("../tools/revert-write.js"),
        import("../audit/pg.js"),
        import("../audit/log.js"),
      ]);
      const deps = { config, clients: await clients(), logger };
      if (database)
        return pgStore.whileReconciling(database, () =>
          reconcile({ intents: (b) => pgStore.unsettledIntents(database, b), audit }, REVERTIBLE, deps),
        );
      const path = config.auditLog;
      return path ? reconcile({ intents: (b) => unsettledInFile(path, b), audit }, REVERTIBLE, deps) : undefined;
    })().then(
      (r) => {
        if (r && r.applied + r.failed + r.unknown > 0)
          logger.info(`reconcile: settled writes left in doubt: ${r.applied} applied, ${r.failed} not applied, ${r.unknown} undecided`);
        for (const u of r?.undecided ?? []) logger.warn(`reconcile: write ${u.id} stays unknown: ${u.reason}`);
      },
      (err: unknown) => logger.warn(`reconcile: ${(err as Error).message}`),
    );
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
    async start(clients) {
      if (!config.databaseUrl) {
        // The audit file: only when there is one to settle, and off the path to initialize and tools/list.
        if (!clients || !config.auditLog || !existsSync(config.auditLog)) return;
        const path = config.auditLog;
        reconcileWith = () => reconcileInBackground(clients);
        setTimeout(() => {
          if (reconcileWith && existsSync(path)) void makeState();
        }, FILE_RECONCILE_DELAY_MS).unref();
        if (state) void makeState();
        return;
      }
      const { database } = await makeState();
      if (!database) return;
      database.watch();
      try {
        const version = await database.ready();
        logger.info(`database: connected, schema version ${version}`);
      } catch (err) {
        logger.warn(`database: ${(err as Error).message}; reads are served, writes are refused until it is back`);
        return;
      }
      if (clients) reconcileInBackground(clients);
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

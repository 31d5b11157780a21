import { StdioServerTransport, serveStdio as serve } from "@modelcontextprotocol/server/stdio";
import type { Clients } from "../client/index.js";
import type { Logger } from "../kernel/log.js";
import { keepingReservedKeys } from "../mcp/reserved-keys.js";
import { createRuntime } from "../mcp/runtime.js";
import { createServer } from "../mcp/server.js";
import type { Config } from "../settings/config.js";

/**
 * The local mode: one MCP server on stdin/stdout for as long as the host keeps the pipe open. On
 * SIGTERM, SIGINT or a closed stdin, calls under way are stopped and answer before the transport
 * closes; the process exits within 2 s whatever happens.
 *
 * This module and what it imports statically are the start-up path (one chunk beside the entry, see
 * rolldown.config.mjs): the upstream clients, the call path and the state calls share load with the
 * first tool call.
 */
export async function serveStdio(config: Config, logger: Logger, ready: string, cleanup: () => Promise<void>): Promise<void> {
  const runtime = createRuntime(config, logger);
  let clients: Promise<Clients> | undefined;
  const loadClients = () => {
    clients ??= import("../client/index.js").then(({ createClients }) => createClients(config));
    return clients;
  };
  // A database (if any) connects while the host initializes; writes a crash left in doubt are then settled in the background.
  void runtime.start(loadClients);
  const stopping = new AbortController();
  // One server per connection, pinned to the protocol generation the host opens with: a
  // `server/discover` probe (MCP 2026-07-28) or `initialize` (2025).
  const factory = ({ era }: { era: "legacy" | "modern" }) => {
    if (era === "modern") logger.debug("protocol 2026-07-28 (server/discover)");
    return createServer({ runtime, clients: loadClients, shutdown: stopping.signal });
  };
  let handle: { close(): Promise<void> } | undefined;

  let closing = false;
  const shutdown = async (why: string, code = 0) => {
    if (closing) return;
    closing = true;
    logger.info(`shutting down (${why})`);
    const force = setTimeout(() => process.exit(code), 2_000);
    force.unref();
    // In-flight calls are stopped and answer with an error result before the transport closes.
    stopping.abort();
    await runtime.busy.idle(1_500);
    // The SDK writes a handler's response in a promise continuation after the handler returns; let it run.
    await new Promise((r) => setImmediate(r));
    await handle?.close().catch(() => {});
    await Promise.allSettled([clients?.then((c) => c.close()), runtime.close(), cleanup()]);
    process.exit(code);
  };
  process.stdin.on("end", () => void shutdown("stdin closed"));
  process.stdin.on("close", () => void shutdown("stdin closed"));
  // The host closing its end of stdout (EPIPE) means nobody reads us any more.
  process.stdout.on("error", () => void shutdown("stdout closed"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  handle = serve(factory, {
    transport: keepingReservedKeys(new StdioServerTransport()),
    onerror: (err) => logger.debug(`mcp: ${err.message}`),
  });
  logger.info(ready);
}

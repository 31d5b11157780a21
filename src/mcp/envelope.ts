import type { ClientCapabilities, Server, ServerContext } from "@modelcontextprotocol/server";

/** The request's MCP 2026-07-28 envelope, when it carries one: protocol version, client, capabilities. */
export function envelopeOf(ctx: ServerContext) {
  const e = ctx.mcpReq.envelope as Record<string, unknown> | undefined; // the SDK types it as an empty object
  if (!e) return undefined;
  return {
    capabilities: e["io.modelcontextprotocol/clientCapabilities"] as ClientCapabilities | undefined,
    client: e["io.modelcontextprotocol/clientInfo"] as { name?: string; version?: string } | undefined,
  };
}

/** What the client of this request declared: in its envelope (2026-07-28), in its 2025 HTTP session, or at initialize. */
export function capabilitiesOf(
  server: Server,
  ctx: ServerContext,
  legacyHttp: { declared: { capabilities: ClientCapabilities } | undefined } | undefined,
): ClientCapabilities | undefined {
  const envelope = envelopeOf(ctx);
  if (envelope) return envelope.capabilities;
  return legacyHttp ? legacyHttp.declared?.capabilities : server.getClientCapabilities();
}

/**
 * The largest body this server reads, either way: a JSON-RPC request from an MCP client over HTTP, and a
 * response from an upstream. Past it, reading stops and the request is refused (413, too_large).
 */
export const MAX_BODY_BYTES = 1024 * 1024;

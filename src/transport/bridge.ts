import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The Node-to-web bridge of the remote mode: the SDK's handlers take a web-standard Request and give
 * back a Response, while Node's HTTP server hands over an IncomingMessage and a ServerResponse. Also the
 * few ways the endpoint and its guards answer on Node's response directly.
 */

export const headerOf = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The web-standard request the SDK's handlers take: the headers and URL (the body is passed parsed). */
export function webRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  // The Host was checked against the allowed names already; the URL only has to parse.
  const host = req.headers.host && /^[\w.:[\]-]+$/.test(req.headers.host) ? req.headers.host : "localhost";
  return new Request(`http://${host}/mcp`, { method: "POST", headers, signal });
}

/** Writes a web-standard response to Node's: JSON whole, an event stream as it comes (until either side ends it). */
export async function sendResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  if (!response.body) {
    res.writeHead(response.status, headers).end();
    return;
  }
  if (!/^text\/event-stream/i.test(response.headers.get("content-type") ?? "")) {
    const body = Buffer.from(await response.arrayBuffer());
    headers["content-length"] = String(body.length);
    res.writeHead(response.status, headers).end(body);
    return;
  }
  res.writeHead(response.status, headers);
  res.flushHeaders();
  const reader = response.body.getReader();
  const stop = () => void reader.cancel().catch(() => {});
  res.once("close", stop);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value))
        await new Promise((resolve) => {
          res.once("drain", resolve);
          res.once("close", resolve);
        });
    }
  } catch {
    // the stream ended under us: the client went away, or the server is closing
  } finally {
    res.off("close", stop);
    res.end();
  }
}

/** Answers with a JSON-RPC error; true, so that a guard can `return refuse(...)`. */
export function refuse(res: ServerResponse, status: number, message: string): true {
  rpcError(res, status, message);
  return true;
}

/** Answers with a JSON body, its length declared. */
export function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Answers with a JSON-RPC error (code -32000) that says what happened. */
export function rpcError(res: ServerResponse, status: number, message: string): void {
  reply(res, status, { jsonrpc: "2.0", error: { code: -32000, message }, id: null });
}

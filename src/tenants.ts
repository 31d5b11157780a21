import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { LeadConnectorClient } from "./client/leadconnector.js";
import { LeadpingClient } from "./client/leadping.js";
import { TwoSmsClient } from "./client/twosms.js";
import type { Clients, ClientTuning } from "./clients.js";
import type { Config } from "./config.js";
import { RefusalError } from "./errors.js";
import { forgetSecret, registerSecret } from "./redact.js";

/** The headers a caller sends its own upstream credentials in (caller-credentials mode). */
export const CALLER_HEADERS = {
  leadping: "x-leadping-token",
  leadconnector: "x-leadconnector-token",
  twosmsClientId: "x-twosms-client-id",
  twosmsClientSecret: "x-twosms-client-secret",
  twosmsAccessToken: "x-twosms-access-token",
} as const;

const sha = (text: string) => createHash("sha256").update(text).digest("base64url").slice(0, 16);

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  const value = (Array.isArray(v) ? v[0] : v)?.trim();
  return value ? value : undefined;
}

interface Entry {
  client: LeadpingClient | LeadConnectorClient | TwoSmsClient;
  secrets: string[];
}

/**
 * Upstream clients for callers who bring their own credentials. A client (its connection pool, and
 * for 2SMS its token cache) belongs to exactly one credential: it is found by a hash of that
 * credential, so one tenant's token is never used for another's call. The least recently used are
 * closed past `max`, and their secrets leave the redaction list.
 */
export class TenantClients {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly config: Config,
    private readonly tuning: ClientTuning = {},
    private readonly max = 500,
  ) {}

  /** A tenant key for the request's credentials (undefined when it sent none), and clients built from them. */
  forRequest(headers: IncomingHttpHeaders): { tenant: string | undefined; clients: Clients } {
    const lp = header(headers, CALLER_HEADERS.leadping);
    const lc = header(headers, CALLER_HEADERS.leadconnector);
    const id = header(headers, CALLER_HEADERS.twosmsClientId);
    const secret = header(headers, CALLER_HEADERS.twosmsClientSecret);
    const access = header(headers, CALLER_HEADERS.twosmsAccessToken);
    for (const s of [lp, lc, secret, access]) registerSecret(s);
    const given = [lp, lc, id, secret, access];
    const tenant = given.some(Boolean) ? sha(given.map((v) => v ?? "").join("\n")) : undefined;
    const missing = (what: string, headers: string) =>
      new RefusalError(
        `This server runs with caller credentials (USERS_MCP_HTTP_CREDENTIALS=caller) and the request carried no ${what}: send it in the ${headers} header${headers.includes(" and ") || headers.includes(" or ") ? "s" : ""} of each request. Nothing was sent upstream.`,
      );
    const c = this.config;
    return {
      tenant,
      clients: {
        leadping: () => {
          if (!lp) throw missing("Leadping token", "X-Leadping-Token");
          return this.get(
            `lp:${sha(lp)}`,
            [lp],
            () => new LeadpingClient({ baseUrl: c.leadping.baseUrl, token: lp, ...this.tuning }),
          ) as LeadpingClient;
        },
        leadconnector: () => {
          if (!lc) throw missing("LeadConnector token", "X-LeadConnector-Token");
          return this.get(
            `lc:${sha(lc)}`,
            [lc],
            () =>
              new LeadConnectorClient({
                baseUrl: c.leadconnector.baseUrl,
                token: lc,
                apiVersion: c.leadconnector.apiVersion,
                ...this.tuning,
              }),
          ) as LeadConnectorClient;
        },
        twosms: () => {
          if (access)
            return this.get(
              `2a:${sha(access)}`,
              [access],
              () => new TwoSmsClient({ baseUrl: c.twosms.baseUrl, accessToken: access, ...this.tuning }),
            ) as TwoSmsClient;
          if (!id || !secret) throw missing("2SMS credentials", "X-TwoSMS-Client-Id and X-TwoSMS-Client-Secret (or X-TwoSMS-Access-Token)");
          return this.get(
            `2c:${sha(`${id}\n${secret}`)}`,
            [secret],
            () => new TwoSmsClient({ baseUrl: c.twosms.baseUrl, clientId: id, clientSecret: secret, ...this.tuning }),
          ) as TwoSmsClient;
        },
        close: async () => {}, // the cache outlives a request
      },
    };
  }

  private get(key: string, secrets: string[], make: () => Entry["client"]): Entry["client"] {
    let entry = this.cache.get(key);
    if (entry)
      this.cache.delete(key); // re-inserted below: the Map's order is least recently used first
    else entry = { client: make(), secrets };
    this.cache.set(key, entry);
    while (this.cache.size > this.max) {
      const [oldest, evicted] = this.cache.entries().next().value as [string, Entry];
      this.cache.delete(oldest);
      void evicted.client.close();
      for (const s of evicted.secrets) forgetSecret(s);
    }
    return entry.client;
  }

  async close(): Promise<void> {
    const all = [...this.cache.values()];
    this.cache.clear();
    await Promise.allSettled(all.map((e) => e.client.close()));
  }
}

import type { Config } from "../settings/config.js";
import { UpstreamError } from "./errors.js";
import { LeadConnectorClient } from "./leadconnector.js";
import { LeadpingClient } from "./leadping.js";
import { TwoSmsClient } from "./twosms.js";

/**
 * The three upstream clients, built on first use: a provider that is not configured costs
 * nothing at start-up, and its tools fail with an error naming the variable to set.
 */
export interface Clients {
  leadping(): LeadpingClient;
  leadconnector(): LeadConnectorClient;
  twosms(): TwoSmsClient;
  close(): Promise<void>;
}

export interface ClientTuning {
  /** Retry backoff base in ms (tests shorten it). */
  backoffBaseMs?: number;
}

export function createClients(config: Config, tuning: ClientTuning = {}): Clients {
  let leadping: LeadpingClient | undefined;
  let leadconnector: LeadConnectorClient | undefined;
  let twosms: TwoSmsClient | undefined;
  const notConfigured = (provider: "leadping" | "leadconnector" | "twosms") =>
    new UpstreamError({ provider, code: "not_configured", message: "not configured" });

  return {
    leadping() {
      const token = config.leadping.token;
      if (!token) throw notConfigured("leadping");
      leadping ??= new LeadpingClient({ baseUrl: config.leadping.baseUrl, token, ...tuning });
      return leadping;
    },
    leadconnector() {
      const token = config.leadconnector.token;
      if (!token) throw notConfigured("leadconnector");
      leadconnector ??= new LeadConnectorClient({
        baseUrl: config.leadconnector.baseUrl,
        token,
        apiVersion: config.leadconnector.apiVersion,
        ...tuning,
      });
      return leadconnector;
    },
    twosms() {
      const t = config.twosms;
      if (!t.accessToken && !(t.clientId && t.clientSecret)) throw notConfigured("twosms");
      twosms ??= new TwoSmsClient({ ...t, ...tuning });
      return twosms;
    },
    async close() {
      await Promise.allSettled([leadping?.close(), leadconnector?.close(), twosms?.close()]);
    },
  };
}

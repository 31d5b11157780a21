import type { Config } from "../settings/config.js";
import { isConfigured } from "../settings/providers.js";
import { type Provider, UpstreamError } from "./errors.js";
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

/** A Leadping client for one token; the base URL comes only from the server's configuration. */
export function leadpingClient(config: Config, token: string, tuning: ClientTuning = {}): LeadpingClient {
  return new LeadpingClient({ baseUrl: config.leadping.baseUrl, token, ...tuning });
}

/** A LeadConnector client for one token. */
export function leadconnectorClient(config: Config, token: string, tuning: ClientTuning = {}): LeadConnectorClient {
  return new LeadConnectorClient({ baseUrl: config.leadconnector.baseUrl, token, apiVersion: config.leadconnector.apiVersion, ...tuning });
}

/** A 2SMS client for client credentials (it fetches and renews its token) or an access token. */
export function twosmsClient(
  config: Config,
  credentials: { clientId?: string | undefined; clientSecret?: string | undefined; accessToken?: string | undefined },
  tuning: ClientTuning = {},
): TwoSmsClient {
  return new TwoSmsClient({ baseUrl: config.twosms.baseUrl, ...credentials, ...tuning });
}

/** The server's own clients, from its settings (server-credentials mode and stdio). */
export function createClients(config: Config, tuning: ClientTuning = {}): Clients {
  let leadping: LeadpingClient | undefined;
  let leadconnector: LeadConnectorClient | undefined;
  let twosms: TwoSmsClient | undefined;
  const configured = (provider: Provider) => {
    if (!isConfigured(config, provider)) throw new UpstreamError({ provider, code: "not_configured", message: "not configured" });
  };
  return {
    leadping() {
      configured("leadping");
      leadping ??= leadpingClient(config, config.leadping.token ?? "", tuning);
      return leadping;
    },
    leadconnector() {
      configured("leadconnector");
      leadconnector ??= leadconnectorClient(config, config.leadconnector.token ?? "", tuning);
      return leadconnector;
    },
    twosms() {
      configured("twosms");
      twosms ??= twosmsClient(config, config.twosms, tuning);
      return twosms;
    },
    async close() {
      await Promise.allSettled([leadping?.close(), leadconnector?.close(), twosms?.close()]);
    },
  };
}

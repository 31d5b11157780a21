import { type Config, sourceOf } from "./config.js";

/**
 * The three upstreams, each fact about one said once: its label, its settings, whether it is configured,
 * and the next step an agent is given for the errors that depend on the platform. The tool catalog
 * (src/tools/catalog.ts) names which provider each tool calls; the settings table (./config.ts) defines
 * the settings named here.
 */

/** The errors whose next step depends on the platform (a subset of the clients' UpstreamErrorCode). */
export type AdviceCode = "not_configured" | "auth_failed" | "unauthorized" | "forbidden" | "not_found";

export interface ProviderFacts {
  /** The platform's name in every message. */
  label: string;
  /** The settings that hold its credentials, in words ("A and B (or C)"). */
  credentialVars: string;
  /** The setting that holds its API address. */
  baseUrlVar: string;
  baseUrl(config: Config): string;
  /** Whether the server's own settings hold credentials for it: the one place that decides it. */
  configured(config: Pick<Config, "leadping" | "leadconnector" | "twosms">): boolean;
  /** The credential settings this configuration sends (by name). */
  credentialsInUse(config: Config): string[];
  advice: Partial<Record<AdviceCode, string>>;
}

export const PROVIDERS = {
  leadping: {
    label: "Leadping",
    credentialVars: "LEADPING_API_TOKEN",
    baseUrlVar: "LEADPING_BASE_URL",
    baseUrl: (c) => c.leadping.baseUrl,
    configured: (c) => Boolean(c.leadping.token),
    credentialsInUse: () => ["LEADPING_API_TOKEN"],
    advice: {
      not_configured:
        "Set LEADPING_API_TOKEN in the server's environment (the `env` block of your MCP host's config, or ~/.config/users-mcp/.env) to a Leadping user JWT, organization API key (sk_…) or agent access token, then restart the server.",
      unauthorized:
        "Check LEADPING_API_TOKEN: it must be a current user JWT, organization API key (sk_…) or agent access token. Source keys (lp_src_…) are not accepted by the users API.",
      forbidden: "The token is valid but not allowed to do this; use the token of a user or organization that may change its own profile.",
      not_found:
        "Leadping has no user profile for this token's identity; sign in to Leadping once with that account, or use another token.",
    },
  },
  leadconnector: {
    label: "LeadConnector",
    credentialVars: "LEADCONNECTOR_TOKEN",
    baseUrlVar: "LEADCONNECTOR_BASE_URL",
    baseUrl: (c) => c.leadconnector.baseUrl,
    configured: (c) => Boolean(c.leadconnector.token),
    credentialsInUse: () => ["LEADCONNECTOR_TOKEN"],
    advice: {
      not_configured:
        "Set LEADCONNECTOR_TOKEN in the server's environment to a LeadConnector OAuth access token or a Private Integration Token (pit-…) with the users.readonly and users.write scopes, then restart the server.",
      unauthorized:
        "The token in LEADCONNECTOR_TOKEN is invalid or has expired (OAuth access tokens last about a day). Refresh it, or use a Private Integration Token (pit-…), then restart the server.",
      forbidden:
        "The token in LEADCONNECTOR_TOKEN lacks a scope this call needs: users.write to update a user, users.readonly to read one. Grant the scope to the app or Private Integration and issue a new token; also check that the user belongs to the token's sub-account or agency.",
      not_found: "LeadConnector has no user with that id visible to this token. Check userId (ids look like 0IHuJvc2ofPAAA8GzTRi).",
    },
  },
  twosms: {
    label: "2SMS",
    credentialVars: "TWOSMS_CLIENT_ID and TWOSMS_CLIENT_SECRET (or TWOSMS_ACCESS_TOKEN)",
    baseUrlVar: "TWOSMS_BASE_URL",
    baseUrl: (c) => c.twosms.baseUrl,
    configured: (c) => Boolean(c.twosms.accessToken || (c.twosms.clientId && c.twosms.clientSecret)),
    credentialsInUse: (c) => (c.twosms.accessToken ? ["TWOSMS_ACCESS_TOKEN"] : ["TWOSMS_CLIENT_ID", "TWOSMS_CLIENT_SECRET"]),
    advice: {
      not_configured:
        "Set TWOSMS_CLIENT_ID and TWOSMS_CLIENT_SECRET (an OAuth client of your 2SMS account), or TWOSMS_ACCESS_TOKEN, in the server's environment, then restart the server.",
      auth_failed:
        "2SMS refused the client credentials: check TWOSMS_CLIENT_ID and TWOSMS_CLIENT_SECRET, and TWOSMS_BASE_URL (US accounts use https://portal.2sms.us, UK accounts https://portal.2sms.com).",
      unauthorized:
        "2SMS refused the access token even after a fresh one was requested. Check that the credentials in TWOSMS_CLIENT_ID/TWOSMS_CLIENT_SECRET (or TWOSMS_ACCESS_TOKEN) belong to an account with user-administration rights, and that TWOSMS_BASE_URL is your account's region.",
      forbidden: "The 2SMS account behind these credentials may not administer this user.",
      not_found: "2SMS has no user with that id in this account. Check userId (a GUID).",
    },
  },
} as const satisfies Record<string, ProviderFacts>;

/** The three upstreams, named as in configuration. */
export type ProviderName = keyof typeof PROVIDERS;
export const PROVIDER_NAMES = Object.keys(PROVIDERS) as ProviderName[];

/** The platform's name in messages ("2SMS"). */
export const labelOf = (provider: ProviderName): string => PROVIDERS[provider].label;

/** The platform's next step for an error code (the clients' UpstreamErrorCode), when it has one of its own. */
export function adviceOf(provider: ProviderName, code: string): string | undefined {
  const advice: Partial<Record<string, string>> = PROVIDERS[provider].advice;
  return advice[code];
}

/** Whether the server's own settings hold credentials for a provider. */
export function isConfigured(config: Pick<Config, "leadping" | "leadconnector" | "twosms">, provider: ProviderName): boolean {
  return PROVIDERS[provider].configured(config);
}

/** Per provider: whether it has credentials, where they are sent, and where those settings came from. */
export function credentialRoutes(config: Config): Array<{ provider: string; configured: boolean; origin: string; summary: string }> {
  const from = (names: string[]) => names.map((n) => `${n} from ${sourceOf(config, n)}`).join(", ");
  return PROVIDER_NAMES.map((name) => {
    const p: ProviderFacts = PROVIDERS[name];
    const configured = p.configured(config);
    const origin = new URL(p.baseUrl(config)).origin;
    return {
      provider: p.label,
      configured,
      origin,
      summary: configured
        ? `${p.label}: credential (${from(p.credentialsInUse(config))}) is sent only to ${origin} (${p.baseUrlVar} from ${sourceOf(config, p.baseUrlVar)})`
        : `${p.label}: not configured`,
    };
  });
}

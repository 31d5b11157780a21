// What the views read from the server's results: typed loosely, checked where it is used, because
// a view must show whatever arrives (an older server, an error) rather than break.

export type Provider = "leadping" | "leadconnector" | "twosms";
export const PLATFORM: Record<string, string> = { leadping: "Leadping", leadconnector: "LeadConnector", twosms: "2SMS" };

export interface Change {
  field: string;
  before: unknown;
  after: unknown;
}

export interface WriteResult {
  applied?: boolean;
  dryRun?: boolean;
  changed?: Change[];
  message?: string;
  warnings?: string[];
  previewToken?: string;
  confirmation?: string;
  auditId?: string;
}

/** The record a write applies to, as the server names it in the result's `_meta` (users-mcp/record). */
export interface NamedRecord {
  tool: string;
  provider: string;
  id: string;
  name: string;
}

export interface HistoryEntry {
  auditId: string;
  time: string;
  tool: string;
  provider: string;
  target: string;
  outcome: string;
  confirmation?: string;
  by?: { sub: string; email?: string; name?: string };
  changes: Change[];
  revertOf?: string;
  revertedBy?: string;
}

export const WRITE_TOOLS = new Set(["update_compliance", "update_user", "update_gdpr", "revert_write"]);
export const RECORD_TOOLS = new Set(["get_current_user", "get_user", "get_gdpr_user"]);
export const TOOL_PROVIDER: Record<string, Provider> = {
  get_current_user: "leadping",
  update_compliance: "leadping",
  get_user: "leadconnector",
  update_user: "leadconnector",
  get_gdpr_user: "twosms",
  update_gdpr: "twosms",
};

/** Why a change deserves a second look; undefined for an ordinary one. Mirrors what the server asks a person to confirm. */
export function riskOf(c: Change): { text: string; kind: "danger" | "warning" } | undefined {
  const f = c.field;
  if (CREDENTIALS.has(f)) return { text: "Credential", kind: "danger" };
  if (f.startsWith("accepted") && c.before === true && c.after === false) return { text: "Consent withdrawn", kind: "danger" };
  if (f === "enabled" && c.after === false) return { text: "Disables the user", kind: "danger" };
  if (ACCESS.has(f)) return { text: "Access", kind: "warning" };
  if (Array.isArray(c.before)) {
    const after = new Set((Array.isArray(c.after) ? c.after : []).map((v) => JSON.stringify(v)));
    const gone = c.before.filter((v) => !after.has(JSON.stringify(v))).length;
    if (gone) return { text: `${gone} removed`, kind: "warning" };
  }
  return undefined;
}

export const CREDENTIALS = new Set(["password", "pin"]);
const ACCESS = new Set(["role", "type", "roles", "permissions", "scopes", "scopesAssignedToOnly", "locationIds", "adminUser", "companyId"]);

/** Labels for fields, where a plain reading of the name is not enough. */
export const LABELS: Record<string, string> = {
  acceptedSms: "SMS consent",
  acceptedEmail: "Email consent",
  acceptedTerms: "Terms of service",
  acceptedToSubscription: "Subscription agreement",
  acceptedBaa: "Business Associate Agreement",
  trustedFormCertificates: "TrustedForm certificates",
  licensedStates: "Licensed states",
  licensedProducts: "Licensed products",
  twilioPhone: "Phone numbers by location",
  lcPhone: "LC Phone numbers",
  dpaVersion: "Data processing agreement",
  agreementDate: "Agreed on",
  declineDate: "Declined on",
};

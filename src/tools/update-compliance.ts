import { z } from "zod";
import { type TrustedFormCertificate, UserCompliance } from "../client/leadping.js";
import { canonical, defineTool, diff, notWritten, plainText, writeResultFields, written } from "./define.js";
import { US_STATE_CODES } from "./us-states.js";

const certificate = z.strictObject({
  url: z
    .string()
    .max(2048)
    .describe("The certificate URL, https://cert.trustedform.com/<certificate id>. Leadping refuses any other host.")
    .superRefine((url, ctx) => {
      if (!trustedFormId(url))
        ctx.addIssue({ code: "custom", message: "must be a TrustedForm certificate URL: https://cert.trustedform.com/<id>" });
    }),
  id: plainText(255).optional().describe("Certificate id; omit it to use the id at the end of the URL"),
  source: plainText(200).optional().describe("Where the consent was captured (free text, e.g. a form or site name)"),
  createdAt: z.iso.datetime({ offset: true }).optional().describe("When the certificate was issued, ISO 8601 date-time"),
});

const complianceInput = z
  .strictObject({
    acceptedTerms: z.boolean().optional().describe("Accepted Leadping's terms of service"),
    acceptedToSubscription: z.boolean().optional().describe("Accepted the subscription agreement"),
    acceptedSms: z.boolean().optional().describe("Consents to SMS messaging. false withdraws SMS consent"),
    acceptedBaa: z.boolean().optional().describe("Accepted the Business Associate Agreement (HIPAA)"),
    acceptedEmail: z.boolean().optional().describe("Consents to email messaging. false withdraws email consent"),
    trustedFormCertificates: z
      .array(certificate)
      .max(100)
      .optional()
      .describe(
        "REPLACES the whole list of TrustedForm consent certificates. To add one, pass the existing ones (from get_current_user) plus the new one; [] removes them all",
      ),
    licensedStates: z
      .array(z.string().max(20))
      .max(100)
      .transform((codes, ctx) => {
        const normalised = [...new Set(codes.map((c) => c.trim().toUpperCase()))];
        const bad = normalised.filter((c) => !US_STATE_CODES.has(c));
        if (bad.length) {
          ctx.addIssue({
            code: "custom",
            message: `unknown US state or territory codes: ${bad.join(", ")}. Use two-letter USPS codes such as CA, NY, DC, PR`,
          });
          return z.NEVER;
        }
        return normalised;
      })
      .optional()
      .describe(
        "REPLACES the list of US states/territories the user is licensed in: two-letter codes such as CA, NY, PR (case-insensitive; duplicates dropped)",
      ),
    licensedProducts: z
      .array(plainText(200))
      .max(100)
      .optional()
      .describe('REPLACES the list of insurance or financial products the user is licensed to sell (free text, e.g. "Medicare", "Life")'),
  })
  .refine((c) => Object.values(c).some((v) => v !== undefined), { message: "give at least one compliance field to change" })
  .describe("The compliance fields to change. Omitted fields keep their current value");

export const updateCompliance = defineTool({
  name: "update_compliance",
  title: "Update Leadping compliance and consent",
  provider: "leadping",
  description: [
    "Changes the compliance record of the current Leadping user (Leadping PUT /users/compliance): consent flags",
    "(terms, subscription, SMS, BAA, email), TrustedForm consent certificates, licensed states and products.",
    "Safe merge: it reads the current record first and changes only the fields you pass; omitted fields, and",
    "fields this server does not know, are sent back unchanged. Lists you pass replace the stored list.",
    "Setting a consent flag to false withdraws that consent. Use dryRun: true to preview the change without",
    "writing. The result lists every changed field with its value before and after. Read the current state",
    "with get_current_user.",
  ].join(" "),
  input: z.strictObject({
    compliance: complianceInput,
    source: plainText(200)
      .optional()
      .describe('Free-text label recorded with the change saying where it came from (e.g. "support chat"); omit to send none'),
    dryRun: z.boolean().default(false).describe("true: compute and return the change without writing anything"),
  }),
  output: z.object({
    ...writeResultFields,
    compliance: UserCompliance.describe("The compliance record after the call (for a dry run: what would be written)"),
  }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  async handler(args, ctx, { clients }) {
    const client = clients.leadping();
    const user = await client.getCurrentUser(ctx);
    const current: UserCompliance = user.compliance ?? {};
    const given: Record<string, unknown> = Object.fromEntries(Object.entries(args.compliance).filter(([, v]) => v !== undefined));
    if (args.compliance.trustedFormCertificates) {
      given.trustedFormCertificates = mergeCertificates(current.trustedFormCertificates ?? [], args.compliance.trustedFormCertificates);
    }
    // Spread keeps every field the server returned, including ones this server does not model.
    const merged: UserCompliance = { ...current, ...given };
    const changed = diff(current, merged, Object.keys(given));
    const warnings = consentWarnings(changed);

    const skipped = notWritten(changed, args.dryRun, "the compliance record", warnings);
    if (skipped) return { ...skipped, compliance: changed.length ? merged : current };

    const updated = await client.updateCompliance(ctx, merged, args.source ?? null);
    const stored: UserCompliance = updated.compliance ?? merged;
    for (const c of changed) {
      if (canonical(stored[c.field] ?? null) !== canonical(c.after ?? null)) {
        warnings.push(
          `Leadping stored ${c.field} as ${JSON.stringify(stored[c.field] ?? null)}, not as sent (${JSON.stringify(c.after)}).`,
        );
      }
    }
    const message = `Updated ${changed.length} compliance field(s): ${changed.map((c) => c.field).join(", ")}.`;
    return { ...written(ctx, changed, message, warnings), compliance: stored };
  },
});

function trustedFormId(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== "https:" || u.hostname !== "cert.trustedform.com" || u.username || u.password || u.port) return undefined;
  const id = u.pathname.replace(/^\/+|\/+$/g, "");
  return id !== "" && id.length <= 255 && !id.includes("/") ? id : undefined;
}

/** Given certificates replace the list, but one already stored keeps the fields the caller did not restate. */
function mergeCertificates(
  stored: TrustedFormCertificate[],
  given: Array<{ url: string; id?: string | undefined; source?: string | undefined; createdAt?: string | undefined }>,
): TrustedFormCertificate[] {
  return given.map((g) => {
    const existing = stored.find((s) => s.url === g.url);
    const fields = Object.fromEntries(Object.entries(g).filter(([, v]) => v !== undefined));
    return { ...existing, id: g.id ?? existing?.id ?? trustedFormId(g.url), ...fields };
  });
}

function consentWarnings(changed: Array<{ field: string; before: unknown; after: unknown }>): string[] {
  const out: string[] = [];
  for (const c of changed) {
    if (c.field.startsWith("accepted") && c.before === true && c.after === false)
      out.push(`This withdraws consent: ${c.field} goes from true to false.`);
    if (Array.isArray(c.before) && Array.isArray(c.after) && c.after.length < c.before.length) {
      out.push(
        `${c.field} is replaced: ${c.before.length - c.after.length} entr${c.before.length - c.after.length === 1 ? "y is" : "ies are"} removed.`,
      );
    }
  }
  return out;
}

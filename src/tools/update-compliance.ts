import { z } from "zod";
import { type LeadpingUser, type TrustedFormCertificate, UserCompliance } from "../client/leadping.js";
import { diff } from "../writes/diff.js";
import { applyListEdit, type ListEdit, listField } from "../writes/lists.js";
import { plainText } from "./define.js";
import { defineWriteTool } from "./define-write.js";
import { US_STATE_CODES } from "./us-states.js";

const certificate = z.strictObject({
  url: z
    .string()
    .max(2048)
    .superRefine((url, ctx) => {
      if (!trustedFormId(url))
        ctx.addIssue({ code: "custom", message: "must be a TrustedForm certificate URL: https://cert.trustedform.com/<id>" });
    }),
  id: plainText(255).optional(),
  source: plainText(200).optional(),
  createdAt: z.iso.datetime({ offset: true }).optional(),
});
type CertificateInput = z.output<typeof certificate>;

const stateCode = z
  .string()
  .max(20)
  .transform((c) => c.trim().toUpperCase())
  .refine((c) => US_STATE_CODES.has(c), { message: "not a US state or territory code: use two-letter USPS codes such as CA, NY, DC, PR" });

const complianceInput = z
  .strictObject({
    acceptedTerms: z.boolean().optional().describe("Terms of service"),
    acceptedToSubscription: z.boolean().optional().describe("Subscription agreement"),
    acceptedSms: z.boolean().optional().describe("SMS consent"),
    acceptedBaa: z.boolean().optional().describe("HIPAA Business Associate Agreement"),
    acceptedEmail: z.boolean().optional().describe("Email consent"),
    trustedFormCertificates: listField(certificate, plainText(2048), 100)
      .optional()
      .describe("TrustedForm certificates; remove takes urls or ids"),
    licensedStates: listField(stateCode, stateCode, 100).optional().describe("Licensed US states (two-letter)"),
    licensedProducts: listField(plainText(200), plainText(200), 100).optional().describe('Products the user may sell, e.g. "Medicare"'),
  })
  .refine((c) => Object.values(c).some((v) => v !== undefined), { message: "give at least one compliance field to change" })
  .describe("The fields to change");

const LABELS = {
  acceptedSms: "SMS consent",
  acceptedEmail: "email consent",
  acceptedTerms: "acceptance of the terms of service",
  acceptedToSubscription: "acceptance of the subscription agreement",
  acceptedBaa: "acceptance of the Business Associate Agreement",
  trustedFormCertificates: "TrustedForm certificates",
  licensedStates: "licensed states",
  licensedProducts: "licensed products",
};

export const updateCompliance = defineWriteTool("update_compliance", {
  title: "Update Leadping compliance and consent",
  description: [
    "Changes the token's Leadping compliance record (PUT /users/compliance); only the fields you pass change.",
    'false withdraws a consent; an array REPLACES a stored list, {"add", "remove"} edits it. dryRun: true',
    "previews. Read it with get_current_user.",
  ].join(" "),
  input: z.strictObject({
    compliance: complianceInput,
    source: plainText(200).optional().describe('Recorded with the change, e.g. "support chat"'),
  }),
  view: { compliance: UserCompliance.describe("The compliance record after the call (dry run: what would be written)") },
  write: {
    // Leadping's record is the token's own user.
    target: (_args, { clients }) => ({ account: clients.leadping().account, id: "me" }),
    read: (ctx, _args, { clients }) => clients.leadping().getCurrentUser(ctx),
    plan(args, user, { clients }) {
      const current: UserCompliance = user.compliance ?? {};
      const c = args.compliance;
      const given: Record<string, unknown> = {};
      const warnings: string[] = [];
      for (const field of ["acceptedTerms", "acceptedToSubscription", "acceptedSms", "acceptedBaa", "acceptedEmail"] as const)
        if (c[field] !== undefined) given[field] = c[field];
      if (c.trustedFormCertificates !== undefined) {
        const stored = current.trustedFormCertificates ?? [];
        const edit = c.trustedFormCertificates;
        const r = applyListEdit<TrustedFormCertificate, string>(
          "trustedFormCertificates",
          stored,
          Array.isArray(edit) ? mergeCertificates(stored, edit) : { add: mergeCertificates(stored, edit.add ?? []), remove: edit.remove },
          (cert, ref) => cert.url === ref || cert.id === ref,
          (cert) => String(cert.url),
        );
        given.trustedFormCertificates = r.list;
        warnings.push(...r.warnings);
      }
      for (const field of ["licensedStates", "licensedProducts"] as const) {
        const edit = c[field] as ListEdit<string, string> | undefined;
        if (edit === undefined) continue;
        const r = applyListEdit(field, current[field] ?? [], Array.isArray(edit) ? [...new Set(edit)] : edit, (a, b) => a === b);
        given[field] = r.list;
        warnings.push(...r.warnings);
      }
      // Spread keeps every field the server returned, including ones this server does not model.
      const merged: UserCompliance = { ...current, ...given };
      const changed = diff(current, merged, Object.keys(given));
      for (const ch of changed)
        if (Array.isArray(ch.before) && Array.isArray(ch.after) && ch.after.length < ch.before.length)
          warnings.push(
            `${ch.field}: ${ch.before.length - ch.after.length} entr${ch.before.length - ch.after.length === 1 ? "y" : "ies"} removed.`,
          );
        else if (ch.before === true && ch.after === false) warnings.push(`This withdraws consent: ${ch.field} goes from true to false.`);
      return {
        changed,
        warnings,
        seen: Object.fromEntries(Object.keys(given).map((f) => [f, current[f] ?? null])),
        preview: { ...user, compliance: merged },
        send: async (ctx) => ({ record: await clients.leadping().updateCompliance(ctx, merged, args.source ?? null) }),
      };
    },
    subject: (u: LeadpingUser) => u.name ?? ([u.firstName, u.lastName].filter(Boolean).join(" ") || (u.email ?? "the token's user")),
    recordId: (u) => u.id ?? undefined,
    stored: (u) => u.compliance ?? {},
    view: (u) => ({ compliance: u.compliance ?? {} }),
    labels: LABELS,
    // Field values a revert restores, given whole (a list replaces the stored one).
    revertArgs: (_target, values) => ({ compliance: values as z.output<typeof complianceInput> }),
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

/** Given certificates, each completed from the stored one with the same url (fields the caller did not restate). */
function mergeCertificates(stored: TrustedFormCertificate[], given: CertificateInput[]): TrustedFormCertificate[] {
  return given.map((g) => {
    const existing = stored.find((s) => s.url === g.url);
    const fields = Object.fromEntries(Object.entries(g).filter(([, v]) => v !== undefined));
    return { ...existing, id: g.id ?? existing?.id ?? trustedFormId(g.url), ...fields };
  });
}

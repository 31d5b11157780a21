import { z } from "zod";
import type { TwoSmsUser } from "../client/twosms.js";

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A 2SMS id argument: a GUID, so nothing else can reach a URL path. */
export const guid = (what: string) =>
  z.string().trim().regex(GUID, "must be a GUID such as c8e4ae5d-ebc0-4f08-a0a0-05399413bb43").describe(what);

// A 2SMS user as the tools return it: camelCase, and never the password or PIN (not even a placeholder).

export const UserOut = z.object({
  id: z.string().nullish(),
  accountId: z.string().nullish(),
  displayName: z.string().nullish(),
  emailAddress: z.string().nullish(),
  username: z.string().nullish(),
  mobilePhone: z.string().nullish(),
  timeZone: z.string().nullish(),
  enabled: z.boolean().nullish(),
  adminUser: z.boolean().nullish(),
  languageId: z.string().nullish(),
  preferences: z.union([z.number(), z.string()]).nullish(),
  dateCreated: z.string().nullish(),
  dateModified: z.string().nullish(),
});

export const Gdpr = z.object({
  agreementDate: z.string().nullish().describe("When the user accepted the privacy policy and data processing agreement"),
  declineDate: z.string().nullish().describe("When the user declined them"),
  dpaVersion: z.string().nullish().describe("Data processing agreement version accepted"),
  privacyPolicyVersion: z.string().nullish().describe("Privacy policy version accepted"),
});

/** Each field of the view, and the 2SMS field it shows. */
const OUT_FIELDS = {
  id: "ID",
  accountId: "AccountID",
  displayName: "DisplayName",
  emailAddress: "EmailAddress",
  username: "Username",
  mobilePhone: "MobilePhone",
  timeZone: "TimeZone",
  enabled: "Enabled",
  adminUser: "AdminUser",
  languageId: "LanguageID",
  preferences: "Preferences",
  dateCreated: "DateCreated",
  dateModified: "DateModified",
} as const satisfies Record<keyof z.infer<typeof UserOut>, keyof TwoSmsUser>;

export function userOut(u: TwoSmsUser): z.infer<typeof UserOut> {
  // Each value is the 2SMS field the table names, which UserOut's schema accepts (the result is checked against it).
  return Object.fromEntries(Object.entries(OUT_FIELDS).map(([field, wire]) => [field, u[wire]])) as z.infer<typeof UserOut>;
}

export function gdprOf(u: TwoSmsUser): z.infer<typeof Gdpr> {
  return {
    agreementDate: u.AgreementDate,
    declineDate: u.DeclineDate,
    dpaVersion: u.DPAVersion,
    privacyPolicyVersion: u.PrivacyPolicyVersion,
  };
}

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

export function userOut(u: TwoSmsUser): z.infer<typeof UserOut> {
  return {
    id: u.ID,
    accountId: u.AccountID,
    displayName: u.DisplayName,
    emailAddress: u.EmailAddress,
    username: u.Username,
    mobilePhone: u.MobilePhone,
    timeZone: u.TimeZone,
    enabled: u.Enabled,
    adminUser: u.AdminUser,
    languageId: u.LanguageID,
    preferences: u.Preferences,
    dateCreated: u.DateCreated,
    dateModified: u.DateModified,
  };
}

export function gdprOf(u: TwoSmsUser): z.infer<typeof Gdpr> {
  return {
    agreementDate: u.AgreementDate,
    declineDate: u.DeclineDate,
    dpaVersion: u.DPAVersion,
    privacyPolicyVersion: u.PrivacyPolicyVersion,
  };
}

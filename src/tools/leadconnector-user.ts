import { z } from "zod";
import { type LcUser, lcUserIdentity } from "../client/leadconnector.js";

/** A LeadConnector user as the tools return it: what an agent needs, without the upstream's noise. */
export const UserOut = z.object({
  ...lcUserIdentity,
  roles: z.looseObject({ type: z.string().nullish(), role: z.string().nullish(), locationIds: z.array(z.string()).nullish() }).nullish(),
  permissions: z.record(z.string(), z.unknown()).nullish(),
  scopes: z.array(z.string()).nullish(),
  lcPhone: z.record(z.string(), z.string()).nullish().describe("LC Phone inbound numbers by location id"),
  platformLanguage: z.string().nullish(),
  deleted: z.boolean().nullish().describe("True for a user deleted in LeadConnector"),
});

export function pick(u: LcUser): z.infer<typeof UserOut> {
  return {
    id: u.id,
    name: u.name,
    firstName: u.firstName,
    lastName: u.lastName,
    email: u.email,
    phone: u.phone,
    roles: u.roles ? { type: u.roles.type, role: u.roles.role, locationIds: u.roles.locationIds } : u.roles,
    permissions: u.permissions,
    scopes: u.scopes,
    lcPhone: u.lcPhone,
    platformLanguage: u.platformLanguage,
    ...(u.deleted !== undefined ? { deleted: u.deleted } : {}),
  };
}

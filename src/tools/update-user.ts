import { z } from "zod";
import type { LcUpdateUserBody, LcUser } from "../client/leadconnector.js";
import {
  type Change,
  canonical,
  defineTool,
  guardCredentials,
  InputError,
  notWritten,
  plainText,
  writeResultFields,
  written,
} from "./define.js";
import { KNOWN_SCOPES, PERMISSION_FLAGS, PLATFORM_LANGUAGES } from "./leadconnector-vocab.js";

const E164 = /^\+[1-9]\d{6,14}$/;
const NOT_READABLE = "(not readable: LeadConnector does not return this field)";

const id = plainText(100);
const scopeList = (what: string) =>
  z
    .array(plainText(200))
    .max(500)
    .optional()
    .describe(
      `REPLACES the user's ${what}: only the names listed stay enabled, and [] disables all of them. Names such as contacts.write, campaigns.readonly`,
    );

const permissions = z
  .object(
    Object.fromEntries(PERMISSION_FLAGS.map((f) => [f, z.boolean().optional()])) as Record<
      (typeof PERMISSION_FLAGS)[number],
      z.ZodOptional<z.ZodBoolean>
    >,
  )
  .catchall(z.boolean())
  .superRefine((flags, ctx) => {
    for (const flag of Object.keys(flags))
      if (!/^[A-Za-z][A-Za-z0-9_]{0,99}$/.test(flag))
        ctx.addIssue({ code: "custom", path: [flag], message: "not a flag name: use letters, digits and _ (such as contactsEnabled)" });
  })
  .optional()
  .describe(
    "Feature permissions to set, as flag name → true/false. Only the flags you pass change. Unknown flag names are sent with a warning",
  );

const input = z.strictObject({
  userId: id.describe("LeadConnector user id (e.g. 0IHuJvc2ofPAAA8GzTRi)"),
  firstName: plainText(100).optional().describe("New first name"),
  lastName: plainText(100).optional().describe("New last name"),
  password: z
    .string()
    .min(8)
    .max(256)
    .optional()
    .describe("New password. Refused unless the server runs with USERS_MCP_ALLOW_CREDENTIAL_CHANGES=true; never echoed back"),
  phone: z
    .string()
    .trim()
    .regex(/^\+?[\d\s().-]{7,25}$/, "must be a phone number such as +18832327657")
    .optional()
    .describe("Phone number, E.164 preferred (+18832327657)"),
  type: z.enum(["account", "agency"]).optional().describe("User type: account (sub-account user) or agency"),
  role: z.enum(["admin", "user"]).optional().describe("Role: admin or user"),
  companyId: id.optional().describe("Company (agency) id; required by LeadConnector for agency-level changes"),
  locationIds: z.array(id).max(500).optional().describe("REPLACES the sub-account (location) ids the user can access"),
  permissions,
  scopes: scopeList("enabled scopes"),
  scopesAssignedToOnly: scopeList("scopes limited to assigned data"),
  profilePhoto: z
    .url({ protocol: /^https$/, error: "must be an https URL" })
    .max(2048)
    .optional()
    .describe("URL of the profile photo (https)"),
  twilioPhone: z
    .record(id, z.union([z.string().regex(E164, "must be an E.164 number such as +18832327657"), z.literal("")]))
    .optional()
    .describe(
      'DESTRUCTIVE: REPLACES the whole map of per-location inbound Twilio numbers, location id → E.164 number. Locations you leave out lose their number; {} clears every number; "" clears that one location. Omit the field to leave numbers unchanged. The current map cannot be read back',
    ),
  platformLanguage: z.enum(PLATFORM_LANGUAGES).optional().describe("Interface language"),
  dryRun: z.boolean().default(false).describe("true: read the user and return what would change, without writing"),
});

const UserOut = z.object({
  id: z.string().nullish(),
  name: z.string().nullish(),
  firstName: z.string().nullish(),
  lastName: z.string().nullish(),
  email: z.string().nullish(),
  phone: z.string().nullish(),
  roles: z.looseObject({ type: z.string().nullish(), role: z.string().nullish(), locationIds: z.array(z.string()).nullish() }).nullish(),
  permissions: z.record(z.string(), z.unknown()).nullish(),
  scopes: z.array(z.string()).nullish(),
  lcPhone: z.record(z.string(), z.string()).nullish().describe("LC Phone inbound numbers by location id"),
  platformLanguage: z.string().nullish(),
});

type Input = z.output<typeof input>;
type Field = Exclude<keyof Input, "userId" | "dryRun">;

/** Where each field's current value lives in the user LeadConnector returns (undefined: not readable). */
const CURRENT: Record<Field, ((u: LcUser) => unknown) | undefined> = {
  firstName: (u) => u.firstName,
  lastName: (u) => u.lastName,
  password: undefined,
  phone: (u) => u.phone,
  type: (u) => u.roles?.type,
  role: (u) => u.roles?.role,
  companyId: undefined,
  locationIds: (u) => u.roles?.locationIds,
  permissions: (u) => u.permissions,
  scopes: (u) => u.scopes,
  scopesAssignedToOnly: (u) => u.scopesAssignedToOnly,
  profilePhoto: (u) => u.profilePhoto,
  twilioPhone: undefined,
  platformLanguage: (u) => u.platformLanguage,
};

export const updateUser = defineTool({
  name: "update_user",
  title: "Update a LeadConnector (HighLevel) user",
  provider: "leadconnector",
  description: [
    "Changes a LeadConnector / HighLevel user (PUT /users/{userId}): name, phone, type and role, sub-account",
    "access, permissions, scopes, profile photo, inbound Twilio numbers, interface language. Only the fields you",
    "pass are sent. It reads the user first and returns each changed field before and after; dryRun: true",
    "previews without writing. Careful: twilioPhone, scopes, scopesAssignedToOnly and locationIds REPLACE the",
    "stored values (read their descriptions). Email cannot be changed through this API. Passwords are refused",
    "unless the server allows credential changes.",
  ].join(" "),
  input,
  output: z.object({ ...writeResultFields, user: UserOut.describe("The user after the call (for a dry run: as it is now)") }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  refusedFields: {
    email:
      "LeadConnector's API no longer supports changing a user's email (a security restriction). Change it in the LeadConnector app instead.",
  },
  errorHints: {
    forbidden:
      "The token in LEADCONNECTOR_TOKEN lacks the users.write scope (users.readonly is needed too, to read the user first), or the user is outside the token's sub-account or agency. Issue a token with those scopes.",
  },
  async handler(args, ctx, { clients, config }) {
    const { userId, dryRun, ...fields } = args;
    const given = Object.entries(fields).filter(([, v]) => v !== undefined) as Array<[Field, unknown]>;
    if (given.length === 0) throw new InputError([{ field: "(arguments)", message: "give at least one field to change besides userId" }]);
    guardCredentials(config, args.password !== undefined ? [["password", args.password]] : [], "the LeadConnector app");

    const client = clients.leadconnector();
    const current = await client.getUser(ctx, userId);
    const changed: Change[] = [];
    const warnings: string[] = [];
    for (const [field, value] of given) {
      const read = CURRENT[field];
      if (field === "password") {
        changed.push({ field, before: "(hidden)", after: "(changed; not shown)" });
        continue;
      }
      if (!read) {
        changed.push({ field, before: NOT_READABLE, after: value });
        continue;
      }
      let before = read(current) ?? null;
      let after = value;
      if (field === "permissions") {
        // Only the flags given change, so compare just those.
        const flags = Object.keys(value as object);
        const cur = (before ?? {}) as Record<string, unknown>;
        before = Object.fromEntries(flags.map((f) => [f, cur[f] ?? null]));
        after = value;
      }
      if (canonical(before) !== canonical(after)) changed.push({ field, before, after });
    }
    warnings.push(...semanticsWarnings(args));

    const skipped = notWritten(changed, dryRun, "the user", warnings);
    if (skipped) return { ...skipped, user: pick(current) };

    const body = Object.fromEntries(given) as LcUpdateUserBody;
    const updated = await client.updateUser(ctx, userId, body);
    const passwordNote = args.password !== undefined ? " The password was changed." : "";
    const message = `Updated ${changed.length} field(s) of user ${userId}: ${changed.map((c) => c.field).join(", ")}.${passwordNote}`;
    return { ...written(ctx, changed, message, warnings), user: pick(updated) };
  },
});

function semanticsWarnings(args: Input): string[] {
  const out: string[] = [];
  if (args.twilioPhone !== undefined) {
    const n = Object.keys(args.twilioPhone).length;
    out.push(
      n === 0
        ? "twilioPhone is {}: every per-location inbound Twilio number is cleared."
        : `twilioPhone replaces the whole stored map: any location not among the ${n} listed loses its number (the current map cannot be read back to check).`,
    );
  }
  for (const key of ["scopes", "scopesAssignedToOnly"] as const) {
    const list = args[key];
    if (list === undefined) continue;
    out.push(
      list.length === 0
        ? `${key} is []: every one of them is disabled.`
        : `${key} replaces the stored list: only the ${list.length} listed stay enabled.`,
    );
    const unknown = list.filter((s) => !KNOWN_SCOPES.has(s));
    if (unknown.length)
      out.push(`${key}: ${unknown.join(", ")} not among the scope names this server knows; sent as given. Check the spelling.`);
  }
  if (args.permissions) {
    const known = new Set<string>(PERMISSION_FLAGS);
    const unknown = Object.keys(args.permissions).filter((f) => !known.has(f));
    if (unknown.length)
      out.push(`permissions: ${unknown.join(", ")} not among the flag names this server knows; sent as given. Check the spelling.`);
  }
  if (args.locationIds !== undefined)
    out.push(`locationIds replaces the user's sub-account access: only the ${args.locationIds.length} listed remain.`);
  return out;
}

function pick(u: LcUser): z.infer<typeof UserOut> {
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
  };
}

import { z } from "zod";
import { InputError } from "../client/errors.js";
import type { LcUser } from "../client/leadconnector.js";
import { type Change, canonical } from "../writes/diff.js";
import { applyListEdit, listField } from "../writes/lists.js";
import { guardCredentials, plainText } from "./define.js";
import { defineWriteTool } from "./define-write.js";
import { pick, UserOut } from "./leadconnector-user.js";
import { KNOWN_SCOPES, PERMISSION_FLAGS, PLATFORM_LANGUAGES } from "./leadconnector-vocab.js";

const E164 = /^\+[1-9]\d{6,14}$/;
const NOT_READABLE = "(not readable: LeadConnector does not return this field)";

const id = plainText(100);
const scopeList = (what: string) =>
  listField(plainText(200), plainText(200), 500)
    .optional()
    .describe(
      `The user's ${what}, names such as contacts.write. An array REPLACES the stored list ([] disables all); {"add": [...], "remove": [...]} edits it`,
    );

// Flags as a map, with the known names in the description: 33 explicit properties would cost the
// model three times the bytes to read, for no more guidance.
const permissions = z
  .record(z.string(), z.boolean())
  .superRefine((flags, ctx) => {
    for (const flag of Object.keys(flags))
      if (!/^[A-Za-z][A-Za-z0-9_]{0,99}$/.test(flag))
        ctx.addIssue({ code: "custom", path: [flag], message: "not a flag name: use letters, digits and _ (such as contactsEnabled)" });
  })
  .optional()
  .describe(
    `Permission flags to set, name → true/false; only the flags you pass change. Known: ${PERMISSION_FLAGS.join(", ")} (others are sent with a warning)`,
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
  locationIds: listField(id, id, 500)
    .optional()
    .describe('Sub-account (location) ids the user can access. An array REPLACES them; {"add": [...], "remove": [...]} edits them'),
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
      'DESTRUCTIVE: REPLACES the map of inbound Twilio numbers, location id → E.164. Locations left out lose their number; {} clears all; "" clears one. It cannot be read back',
    ),
  platformLanguage: z.enum(PLATFORM_LANGUAGES).optional().describe("Interface language"),
});

type Input = z.output<typeof input>;
type Field = Exclude<keyof Input, "userId">;
type ListField = "scopes" | "scopesAssignedToOnly" | "locationIds";
const LIST_FIELDS = new Set<Field>(["scopes", "scopesAssignedToOnly", "locationIds"]);

/**
 * The PUT body, derived from the input schema: the fields given, with each list edit resolved to the
 * whole list to store (LeadConnector replaces lists) and only the permission flags given.
 */
type Body = Omit<Input, "userId" | ListField> & { [K in ListField]?: string[] };

/** Where each list's stored value lives in the user LeadConnector returns. */
const STORED_LIST: Record<ListField, (u: LcUser) => string[] | null | undefined> = {
  scopes: (u) => u.scopes,
  scopesAssignedToOnly: (u) => u.scopesAssignedToOnly,
  locationIds: (u) => u.roles?.locationIds,
};

/** Where each field's current value lives in the user LeadConnector returns (undefined: not readable). */
const CURRENT: Record<Field, ((u: LcUser) => unknown) | undefined> = {
  firstName: (u) => u.firstName,
  lastName: (u) => u.lastName,
  password: undefined,
  phone: (u) => u.phone,
  type: (u) => u.roles?.type,
  role: (u) => u.roles?.role,
  companyId: undefined,
  locationIds: STORED_LIST.locationIds,
  permissions: (u) => u.permissions,
  scopes: STORED_LIST.scopes,
  scopesAssignedToOnly: STORED_LIST.scopesAssignedToOnly,
  profilePhoto: (u) => u.profilePhoto,
  twilioPhone: undefined,
  platformLanguage: (u) => u.platformLanguage,
};

export const updateUser = defineWriteTool("update_user", {
  title: "Update a LeadConnector (HighLevel) user",
  description: [
    "Changes a LeadConnector / HighLevel user (PUT /users/{userId}): name, phone, type and role, sub-account",
    "access, permissions, scopes, profile photo, inbound Twilio numbers, interface language. Only the fields you",
    "pass are sent. It reads the user first and returns each changed field before and after; dryRun: true",
    "previews and returns a previewToken. Careful: twilioPhone, scopes, scopesAssignedToOnly and locationIds",
    'REPLACE the stored values when given as arrays; {"add", "remove"} edits the lists instead. Role, access and',
    "permission changes may ask the person to confirm. Email cannot be changed through this API. Passwords are",
    "refused unless the server allows credential changes. Find users and ids with search_users; read one with get_user.",
  ].join(" "),
  input,
  view: { user: UserOut.describe("The user after the call (for a dry run: as it is now)") },
  refusedFields: {
    email:
      "LeadConnector's API no longer supports changing a user's email (a security restriction). Change it in the LeadConnector app instead.",
  },
  errorHints: {
    forbidden:
      "The token in LEADCONNECTOR_TOKEN lacks the users.write scope (users.readonly is needed too, to read the user first), or the user is outside the token's sub-account or agency. Issue a token with those scopes.",
  },
  write: {
    target(args, { clients, config }) {
      const { userId, ...fields } = args;
      const given = Object.entries(fields).filter(([, v]) => v !== undefined);
      if (given.length === 0) throw new InputError([{ field: "(arguments)", message: "give at least one field to change besides userId" }]);
      guardCredentials(config, args.password !== undefined ? [["password", args.password]] : [], "the LeadConnector app");
      return { account: clients.leadconnector().account, id: userId };
    },
    read: (ctx, args, { clients }) => clients.leadconnector().getUser(ctx, args.userId),
    plan(args, current, { clients }) {
      const { userId, scopes, scopesAssignedToOnly, locationIds, ...rest } = args;
      const warnings: string[] = [];
      const lists: Pick<Body, ListField> = {};
      for (const [field, edit] of [
        ["scopes", scopes],
        ["scopesAssignedToOnly", scopesAssignedToOnly],
        ["locationIds", locationIds],
      ] as const) {
        if (edit === undefined) continue;
        const r = applyListEdit(field, STORED_LIST[field](current) ?? [], edit, (a, b) => a === b);
        lists[field] = r.list;
        warnings.push(...r.warnings);
      }
      const body: Body = { ...rest, ...lists };
      const changed: Change[] = [];
      const seen: Record<string, unknown> = {};
      // In the order the caller gave them.
      for (const field of (Object.keys(args) as Array<keyof Input>).filter(
        (f): f is Field => f !== "userId" && body[f as Field] !== undefined,
      )) {
        const after: unknown = body[field];
        const read = CURRENT[field];
        if (field === "password") {
          changed.push({ field, before: "(hidden)", after: "(changed; not shown)" });
          continue;
        }
        let before = read ? (read(current) ?? null) : NOT_READABLE;
        if (field === "permissions") {
          // Only the flags given change, so compare just those.
          const cur = (before ?? {}) as Record<string, unknown>;
          before = Object.fromEntries(Object.keys(body.permissions ?? {}).map((f) => [f, cur[f] ?? null]));
        }
        if (read) seen[field] = before;
        if (!read || canonical(before) !== canonical(after)) changed.push({ field, before, after });
      }
      warnings.push(...semanticsWarnings(args, body, changed));
      return {
        changed,
        warnings,
        seen,
        ...(args.password !== undefined ? { note: "The password was changed." } : {}),
        send: async (ctx) => ({ record: await clients.leadconnector().updateUser(ctx, userId, body) }),
      };
    },
    subject: (u: LcUser) => u.name ?? ([u.firstName, u.lastName].filter(Boolean).join(" ") || (u.email ?? "this user")),
    stored: (u) => Object.fromEntries(Object.entries(CURRENT).flatMap(([f, read]) => (read ? [[f, read(u) ?? null]] : []))),
    view: (u) => ({ user: pick(u) }),
    sensitiveFields: ["role", "type", "permissions", "scopes", "scopesAssignedToOnly", "locationIds", "password", "twilioPhone"],
    credentialFields: ["password"],
    credentialsWhere: "the LeadConnector app (or update_user with password, where the server allows it)",
    revertArgs: (userId, values): Input => ({ ...(values as Omit<Input, "userId">), userId }),
  },
});

function semanticsWarnings(args: Input, body: Body, changed: Change[]): string[] {
  const out: string[] = [];
  const twilio = body.twilioPhone;
  if (twilio !== undefined) {
    const n = Object.keys(twilio).length;
    out.push(
      n === 0
        ? "twilioPhone is {}: every per-location inbound Twilio number is cleared."
        : `twilioPhone replaces the whole stored map: any location not among the ${n} listed loses its number (the current map cannot be read back to check).`,
    );
  }
  for (const key of ["scopes", "scopesAssignedToOnly"] as const) {
    const list = body[key];
    if (list === undefined) continue;
    if (list.length === 0) out.push(`${key} is []: every one of them is disabled.`);
    else if (Array.isArray(args[key])) out.push(`${key} replaces the stored list: only the ${list.length} listed stay enabled.`);
    const unknown = list.filter((s) => !KNOWN_SCOPES.has(s));
    if (unknown.length)
      out.push(`${key}: ${unknown.join(", ")} not among the scope names this server knows; sent as given. Check the spelling.`);
  }
  const permissions = body.permissions;
  if (permissions) {
    const known = new Set<string>(PERMISSION_FLAGS);
    const unknown = Object.keys(permissions).filter((f) => !known.has(f));
    if (unknown.length)
      out.push(`permissions: ${unknown.join(", ")} not among the flag names this server knows; sent as given. Check the spelling.`);
  }
  for (const c of changed)
    if (LIST_FIELDS.has(c.field as Field) && Array.isArray(c.before) && Array.isArray(c.after)) {
      const gone = c.before.filter((v) => !(c.after as unknown[]).includes(v));
      if (gone.length) out.push(`${c.field}: ${gone.join(", ")} removed; ${c.after.length} remain.`);
    }
  return out;
}

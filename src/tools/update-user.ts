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
const scopeList = (what: string) => listField(plainText(200), plainText(200), 500).optional().describe(what);

// Flags as a map: 33 explicit properties would cost the model three times the bytes to read. The known
// names are not listed either: get_user shows the user's flags, and an unknown one is sent with a warning.
const permissions = z
  .record(z.string(), z.boolean())
  .superRefine((flags, ctx) => {
    for (const flag of Object.keys(flags))
      if (!/^[A-Za-z][A-Za-z0-9_]{0,99}$/.test(flag))
        ctx.addIssue({ code: "custom", path: [flag], message: "not a flag name: use letters, digits and _ (such as contactsEnabled)" });
  })
  .optional()
  .describe("Flags as get_user names them → true/false");

const input = z.strictObject({
  userId: id.describe("The user's id"),
  firstName: plainText(100).optional().describe("First name"),
  lastName: plainText(100).optional().describe("Last name"),
  password: z.string().min(8).max(256).optional().describe("New password"),
  phone: z
    .string()
    .trim()
    .regex(/^\+?[\d\s().-]{7,25}$/, "must be a phone number such as +18832327657")
    .optional()
    .describe("Phone number"),
  type: z.enum(["account", "agency"]).optional().describe("User type"),
  role: z.enum(["admin", "user"]).optional().describe("User role"),
  companyId: id.optional().describe("Company (agency) id"),
  locationIds: listField(id, id, 500).optional().describe("Sub-account ids"),
  permissions,
  scopes: scopeList("Enabled scopes, e.g. contacts.write"),
  scopesAssignedToOnly: scopeList("Scopes on assigned data only"),
  profilePhoto: z
    .url({ protocol: /^https$/, error: "must be an https URL" })
    .max(2048)
    .optional()
    .describe("Profile photo URL"),
  twilioPhone: z
    .record(id, z.union([z.string().regex(E164, "must be an E.164 number such as +18832327657"), z.literal("")]))
    .optional()
    .describe('REPLACES all: location id → Twilio number; "" clears one'),
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
    "Changes a LeadConnector (HighLevel) user; only the fields you pass change. An array REPLACES a list;",
    '{"add", "remove"} edits it. Find users with search_users.',
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

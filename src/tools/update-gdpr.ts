import { z } from "zod";
import { InputError } from "../client/errors.js";
import { READ_ONLY_FIELDS, REQUIRED_FIELDS, type TwoSmsUser } from "../client/twosms.js";
import { type Change, diff } from "../writes/diff.js";
import { guardCredentials, plainText } from "./define.js";
import { defineWriteTool } from "./define-write.js";
import { Gdpr, gdprOf, guid, UserOut, userOut } from "./twosms-user.js";

/** 2SMS's own pattern for MobilePhone: at least five digits, optional leading +, 5–20 of digits, spaces, ()-. */
const MOBILE = /^(?=.*?\d.*?\d.*?\d.*?\d.*?\d)([+]?)([\d\s()-]{5,20})$/;

/** Tool argument → 2SMS wire field. */
const WIRE = {
  displayName: "DisplayName",
  emailAddress: "EmailAddress",
  enabled: "Enabled",
  languageId: "LanguageID",
  mobilePhone: "MobilePhone",
  timeZone: "TimeZone",
  username: "Username",
  adminUser: "AdminUser",
  preferences: "Preferences",
  pin: "Pin",
  password: "Password",
} as const;
type Field = keyof typeof WIRE;
const FIELD_OF = Object.fromEntries(Object.entries(WIRE).map(([k, v]) => [v, k])) as Record<string, Field>;
const CREDENTIALS = new Set<string>(["Password", "Pin"]);

const input = z.strictObject({
  userId: guid("2SMS user id"),
  displayName: plainText(200).optional().describe("Display name"),
  emailAddress: z.email("must be an email address").max(254).optional().describe("Email address"),
  enabled: z.boolean().optional().describe("false disables the user's login"),
  languageId: guid("Language id (a GUID from the 2SMS portal)").optional(),
  mobilePhone: z
    .string()
    .trim()
    .regex(MOBILE, "must be a phone number: at least 5 digits, optional leading +, only digits, spaces, ( ) and -, 5 to 20 characters")
    .optional()
    .describe("Mobile phone, e.g. +44 7700 900123"),
  timeZone: plainText(100).optional().describe("Windows time zone id, e.g. GMT Standard Time"),
  username: plainText(200).optional().describe("Login name, unique in 2SMS"),
  adminUser: z.boolean().optional().describe("true: account administrator"),
  preferences: z.number().int().min(0).max(2_147_483_647).optional().describe("2SMS preferences bit field"),
  pin: z
    .string()
    .regex(/^\d{4,12}$/, "must be 4 to 12 digits")
    .nullable()
    .optional()
    .describe("Two-factor PIN; null: a random PIN at each login"),
  password: z.string().min(8).max(256).optional().describe("New password"),
});

const readOnlyReason = (name: string) =>
  `${name} is set by 2SMS itself (read-only) and cannot be changed through this API; it is reported in the result's gdpr section.`;

export const updateGdpr = defineWriteTool("update_gdpr", {
  title: "Update a 2SMS user (GDPR record)",
  description: [
    "Updates a 2SMS user (POST api/v1/UserAdminAPI/UserUpdateGDPR/{id}). The endpoint replaces the whole user,",
    "so the tool reads it first and changes only the fields you pass. Returns each change before and after, and",
    "the GDPR state. dryRun: true previews. Read a user with get_gdpr_user.",
  ].join(" "),
  input,
  view: {
    user: UserOut.describe("The user after the call (for a dry run: as it is now); password and PIN are never included"),
    gdpr: Gdpr.describe("GDPR consent state as 2SMS reports it"),
    serverResult: z.string().optional().describe("2SMS's own result text, when it gave one"),
  },
  refusedFields: Object.fromEntries(
    [
      ["agreementDate", "agreementDate"],
      ["declineDate", "declineDate"],
      ["dpaVersion", "dpaVersion"],
      ["privacyPolicyVersion", "privacyPolicyVersion"],
      ["dateCreated", "dateCreated"],
      ["dateModified", "dateModified"],
      ["accountId", "accountId"],
      ...READ_ONLY_FIELDS.map((f) => [f, f]),
    ].map(([k, name]) => [k as string, readOnlyReason(name as string)]),
  ),
  write: {
    target(args, { clients, config }) {
      const { userId, ...fields } = args;
      const given = Object.entries(fields).filter(([, v]) => v !== undefined) as Array<[Field, unknown]>;
      if (given.length === 0) throw new InputError([{ field: "(arguments)", message: "give at least one field to change besides userId" }]);
      guardCredentials(
        config,
        given.filter(([f]) => CREDENTIALS.has(WIRE[f])),
        "the 2SMS portal",
      );
      return { account: clients.twosms().account, id: userId };
    },
    // If this read fails, nothing is written: the merge needs the whole current record.
    read: async (ctx, args, { clients }) => (await clients.twosms().getUser(ctx, args.userId)).user,
    plan(args, current, { clients }) {
      const { userId, ...fields } = args;
      const given = Object.entries(fields).filter(([, v]) => v !== undefined) as Array<[Field, unknown]>;
      const credentials = given.filter(([f]) => CREDENTIALS.has(WIRE[f]));
      const body: Record<string, unknown> = { ...current };
      for (const f of READ_ONLY_FIELDS) delete body[f];
      // A password or PIN read back must never be written back (it may be a hash or a mask).
      delete body.Password;
      delete body.Pin;
      for (const [f, v] of given) body[WIRE[f]] = v;

      const problems: Array<{ field: string; message: string }> = [];
      for (const f of REQUIRED_FIELDS) {
        const v = body[f];
        if (v === undefined || v === null || v === "") {
          problems.push({
            field: FIELD_OF[f] ?? f,
            message: `2SMS requires it on every update and the stored user has none; pass ${FIELD_OF[f] ?? f}`,
          });
        }
      }
      if (typeof body.MobilePhone === "string" && !MOBILE.test(body.MobilePhone) && fields.mobilePhone === undefined) {
        problems.push({
          field: "mobilePhone",
          message: `the stored number ${JSON.stringify(body.MobilePhone)} does not pass 2SMS's own check, so the update would be refused; pass mobilePhone`,
        });
      }
      if (problems.length) throw new InputError(problems);

      const plain = given.filter(([f]) => !CREDENTIALS.has(WIRE[f]));
      const changed: Change[] = diff(
        current,
        body,
        plain.map(([f]) => WIRE[f]),
      ).map((c) => ({ ...c, field: FIELD_OF[c.field] ?? c.field }));
      // A credential always counts as a change: its current value is never compared or shown.
      for (const [f] of credentials)
        changed.push({ field: f, before: "(hidden)", after: fields[f] === null ? "(random at each login)" : "(changed; not shown)" });
      return {
        changed,
        warnings: [],
        seen: Object.fromEntries(plain.map(([f]) => [f, current[WIRE[f]] ?? null])),
        async send(ctx) {
          const { user, result } = await clients.twosms().updateGdpr(ctx, userId, body);
          return { record: user, ...(result ? { extra: { serverResult: result } } : {}) };
        },
      };
    },
    subject: (u: TwoSmsUser) => u.DisplayName ?? u.Username ?? u.EmailAddress ?? "this user",
    stored: (u) => Object.fromEntries(Object.entries(WIRE).map(([f, w]) => [f, u[w] ?? null])),
    view: (u) => ({ user: userOut(u), gdpr: gdprOf(u) }),
    sensitiveFields: ["emailAddress", "mobilePhone", "username", "adminUser", "password", "pin"],
    credentialFields: ["password", "pin"],
    credentialsWhere: "the 2SMS portal (or update_gdpr with password or pin, where the server allows it)",
    revertArgs: (userId, values): z.output<typeof input> => ({ ...(values as Omit<z.output<typeof input>, "userId">), userId }),
  },
});

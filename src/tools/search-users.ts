import { z } from "zod";
import { InputError } from "../client/errors.js";
import { defineTool, plainText } from "./define.js";

const Row = z.object({
  id: z.string().nullish(),
  name: z.string().nullish(),
  email: z.string().nullish(),
  phone: z.string().nullish(),
  role: z.string().nullish(),
  type: z.string().nullish(),
  locationIds: z.array(z.string()).nullish(),
  deleted: z.boolean().nullish(),
});

export const searchUsers = defineTool("search_users", {
  title: "Search LeadConnector (HighLevel) users",
  description: [
    "Finds LeadConnector (HighLevel) users of a company (GET /users/search) by name, email or phone, sub-account,",
    "role or type, a page at a time: rows with ids for get_user and update_user, and nextSkip.",
  ].join(" "),
  input: z.strictObject({
    query: plainText(200).optional().describe("Matched against name, email and phone; omit to list all"),
    companyId: plainText(100).optional().describe("Company (agency) id; default: the configured one"),
    locationId: plainText(100).optional().describe("Only users of this sub-account (location)"),
    role: z.enum(["admin", "user"]).optional().describe("Only admins or only users"),
    type: z.enum(["account", "agency"]).optional().describe("Only account or agency users"),
    limit: z.number().int().min(1).max(100).default(25).describe("Page size"),
    skip: z.number().int().min(0).max(1_000_000).default(0).describe("nextSkip of the previous page"),
  }),
  output: z.object({
    users: z.array(Row),
    count: z.number().describe("Total matches (all pages)"),
    nextSkip: z.number().optional().describe("skip for the next page; absent on the last page"),
  }),
  errorHints: {
    forbidden:
      "The token in LEADCONNECTOR_TOKEN cannot search this company: it lacks the users.readonly scope, or it belongs to another agency or sub-account than companyId (a sub-account token searches only its own company). Check companyId and LEADCONNECTOR_COMPANY_ID.",
  },
  async handler(args, ctx, { clients, config }) {
    const companyId = args.companyId ?? config.leadconnector.companyId;
    if (!companyId)
      throw new InputError([
        {
          field: "companyId",
          message: "LeadConnector searches within one company: pass companyId, or set LEADCONNECTOR_COMPANY_ID in the server's environment",
        },
      ]);
    const result = await clients.leadconnector().searchUsers(ctx, {
      companyId,
      query: args.query,
      locationId: args.locationId ?? config.leadconnector.locationId,
      role: args.role,
      type: args.type,
      limit: args.limit,
      skip: args.skip,
    });
    const users = (result.users ?? []).map((u) => ({
      id: u.id,
      name: u.name ?? ([u.firstName, u.lastName].filter(Boolean).join(" ") || null),
      email: u.email,
      phone: u.phone,
      role: u.roles?.role,
      type: u.roles?.type,
      locationIds: u.roles?.locationIds,
      ...(u.deleted !== undefined ? { deleted: u.deleted } : {}),
    }));
    const count = result.count ?? users.length;
    const next = args.skip + users.length;
    return { users, count, ...(users.length > 0 && next < count ? { nextSkip: next } : {}) };
  },
});

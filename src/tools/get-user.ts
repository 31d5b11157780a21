import { z } from "zod";
import { defineTool, plainText } from "./define.js";
import { pick, UserOut } from "./leadconnector-user.js";

export const getUser = defineTool("get_user", {
  title: "Get a LeadConnector (HighLevel) user",
  description: [
    "Reads one LeadConnector (HighLevel) user by id (GET /users/{userId}): name, email, phone, roles, sub-accounts,",
    "permissions, scopes, language. Find ids with search_users; change it with update_user.",
  ].join(" "),
  input: z.strictObject({ userId: plainText(100).describe("LeadConnector user id") }),
  output: UserOut,
  errorHints: {
    forbidden:
      "The token in LEADCONNECTOR_TOKEN lacks the users.readonly scope, or this user is outside the token's sub-account or agency (a sub-account token sees only its location's users). Use a token with users.readonly for the right agency or sub-account.",
  },
  async handler({ userId }, ctx, { clients }) {
    return pick(await clients.leadconnector().getUser(ctx, userId));
  },
});

import { z } from "zod";
import { defineTool } from "./define.js";
import { Gdpr, gdprOf, guid, UserOut, userOut } from "./twosms-user.js";

export const getGdprUser = defineTool("get_gdpr_user", {
  title: "Get a 2SMS user and their GDPR state",
  description: [
    "Reads one 2SMS user by id (GET api/v1/admin/users/{id}): name, email, username, mobile, time zone, flags,",
    "language and GDPR state (agreement dates, DPA and privacy policy versions). Change it with update_gdpr.",
  ].join(" "),
  input: z.strictObject({ userId: guid("2SMS user id (a GUID)") }),
  output: z.object({ user: UserOut, gdpr: Gdpr }),
  async handler({ userId }, ctx, { clients }) {
    const { user } = await clients.twosms().getUser(ctx, userId);
    return { user: userOut(user), gdpr: gdprOf(user) };
  },
});

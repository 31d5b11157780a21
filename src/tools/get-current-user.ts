import { z } from "zod";
import { LeadpingUser } from "../client/leadping.js";
import { defineTool } from "./define.js";

export const getCurrentUser = defineTool("get_current_user", {
  title: "Get the current Leadping user",
  description: [
    "Reads the Leadping user the API token belongs to (GET /users/me): identity, roles, plan, business,",
    "notification preferences and the compliance record (consents, TrustedForm certificates, licensed states",
    "and products). Read it before update_compliance.",
  ].join(" "),
  input: z.strictObject({}),
  output: LeadpingUser,
  async handler(_args, ctx, { clients }) {
    return await clients.leadping().getCurrentUser(ctx);
  },
});

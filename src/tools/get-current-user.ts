import { z } from "zod";
import { LeadpingUser } from "../client/leadping.js";
import { defineTool } from "./define.js";

export const getCurrentUser = defineTool("get_current_user", {
  title: "Get the current Leadping user",
  description: [
    "Reads the Leadping user that the configured API token belongs to (Leadping GET /users/me): identity,",
    "roles, billing plan and subscription status, business, notification preferences and the compliance",
    "record (consent flags, TrustedForm certificates, licensed states and products).",
    "Read-only and safe to call at any time. Call it before update_compliance to see the current consent",
    "state; fields that Leadping does not return for this account are omitted or null.",
  ].join(" "),
  input: z.strictObject({}),
  output: LeadpingUser,
  async handler(_args, ctx, { clients }) {
    return await clients.leadping().getCurrentUser(ctx);
  },
});

import { z } from "zod";
import type { CallContext } from "./call-context.js";
import { accountKey, HttpClient } from "./request.js";

// Every known field is optional and nullable and unknown fields are kept: the vendor's
// contract has drifted across three published shapes (see the README), and a read-modify-write
// must carry back whatever the server holds, modelled or not.

export type TrustedFormCertificate = z.infer<typeof TrustedFormCertificate>;
export const TrustedFormCertificate = z.looseObject({
  id: z.string().nullish(),
  url: z.string().nullish(),
  source: z.string().nullish(),
  createdAt: z.string().nullish(),
});

export type UserCompliance = z.infer<typeof UserCompliance>;
export const UserCompliance = z.looseObject({
  acceptedTerms: z.boolean().nullish(),
  acceptedToSubscription: z.boolean().nullish(),
  acceptedSms: z.boolean().nullish(),
  acceptedBaa: z.boolean().nullish(),
  acceptedEmail: z.boolean().nullish(),
  trustedFormCertificates: z.array(TrustedFormCertificate).nullish(),
  licensedStates: z.array(z.string()).nullish(),
  licensedProducts: z.array(z.string()).nullish(),
});

const NamedRef = z.looseObject({ id: z.string().nullish(), name: z.string().nullish() });

export type LeadpingUser = z.infer<typeof LeadpingUser>;
export const LeadpingUser = z.looseObject({
  id: z.string().nullish(),
  name: z.string().nullish(),
  email: z.string().nullish(),
  firstName: z.string().nullish(),
  lastName: z.string().nullish(),
  phone: z.string().nullish(),
  createdAt: z.string().nullish(),
  modifiedAt: z.string().nullish(),
  lastLoggedInAt: z.string().nullish(),
  timeZoneId: z.string().nullish(),
  billingPlan: z.string().nullish().describe("Annual or Monthly"),
  billingState: z.string().nullish(),
  subscriptionStatus: z.string().nullish().describe("Pending, Active, Overdue or Canceled"),
  roles: z.array(z.string()).nullish(),
  identities: z.array(z.looseObject({})).nullish(),
  business: NamedRef.nullish(),
  currentBusiness: NamedRef.nullish(),
  currentOrganization: NamedRef.nullish(),
  compliance: UserCompliance.nullish(),
  notificationPreferences: z.looseObject({}).nullish(),
  mobileDevicePreferences: z.array(z.looseObject({})).nullish(),
  personalDataDeletionRequestedAt: z.string().nullish(),
  personalDataDeletedAt: z.string().nullish(),
  personalDataDeletionStatus: z.string().nullish(),
  personalDataDeletionReason: z.string().nullish(),
  accountBalance: z.number().nullish(),
  autoRefillEnabled: z.boolean().nullish(),
  autoRefillAmount: z.number().nullish(),
  autoRefillTrigger: z.number().nullish(),
  stripeInfo: z.looseObject({}).nullish(),
});

export interface LeadpingClientOptions {
  baseUrl: string;
  token: string;
  backoffBaseMs?: number;
}

/**
 * Leadping users API.
 * @see https://leadping.ai/docs (GET /users/me, PUT /users/compliance)
 */
export class LeadpingClient {
  readonly http: HttpClient;
  /** The token's account, as a hash (see accountKey). */
  readonly account: string;
  private readonly auth: Record<string, string>;

  constructor(options: LeadpingClientOptions) {
    this.http = new HttpClient({
      provider: "leadping",
      baseUrl: options.baseUrl,
      backoffBaseMs: options.backoffBaseMs,
    });
    this.auth = { authorization: `Bearer ${options.token}` };
    this.account = accountKey(options.baseUrl, options.token);
  }

  /** The user the token belongs to. `GET /users/me` */
  async getCurrentUser(ctx: CallContext): Promise<LeadpingUser> {
    const res = await this.http.send({
      method: "GET",
      path: "users/me",
      headers: this.auth,
      schema: LeadpingUser,
      retry: "idempotent",
      ctx,
    });
    return res.data;
  }

  /**
   * Replaces the current user's compliance record with `compliance` as given: the caller must send
   * the whole record (see the update_compliance tool, which merges first). `PUT /users/compliance`
   */
  async updateCompliance(ctx: CallContext, compliance: UserCompliance, source: string | null): Promise<LeadpingUser> {
    const res = await this.http.send({
      method: "PUT",
      path: "users/compliance",
      headers: this.auth,
      json: { compliance, source },
      schema: LeadpingUser,
      retry: "idempotent",
      ctx,
    });
    return res.data;
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

import { z } from "zod";
import type { CallContext } from "./call-context.js";
import { pathSegment } from "./errors.js";
import { accountKey, HttpClient } from "./request.js";

export type LcRoles = z.infer<typeof LcRoles>;
export const LcRoles = z.looseObject({
  type: z.string().nullish(),
  role: z.string().nullish(),
  locationIds: z.array(z.string()).nullish(),
  restrictSubAccount: z.boolean().nullish(),
});

/** Who a LeadConnector user is: the fields every view of a user starts with. */
export const lcUserIdentity = {
  id: z.string().nullish(),
  name: z.string().nullish(),
  firstName: z.string().nullish(),
  lastName: z.string().nullish(),
  email: z.string().nullish(),
  phone: z.string().nullish(),
};

/** The user as LeadConnector returns it. There is no `twilioPhone` here: that map cannot be read back. */
export type LcUser = z.infer<typeof LcUser>;
export const LcUser = z.looseObject({
  ...lcUserIdentity,
  extension: z.string().nullish(),
  permissions: z.record(z.string(), z.unknown()).nullish(),
  // The published page types this as a string; live responses carry an array. Accept both.
  scopes: z
    .union([z.array(z.string()), z.string()])
    .nullish()
    .transform((v) => (typeof v === "string" ? v.split(/[\s,]+/).filter(Boolean) : v)),
  deleted: z.boolean().nullish(),
  scopesAssignedToOnly: z
    .union([z.array(z.string()), z.string()])
    .nullish()
    .transform((v) => (typeof v === "string" ? v.split(/[\s,]+/).filter(Boolean) : v)),
  roles: LcRoles.nullish(),
  lcPhone: z.record(z.string(), z.string()).nullish(),
  platformLanguage: z.string().nullish(),
  profilePhoto: z.string().nullish(),
});

export type LcSearchResult = z.infer<typeof LcSearchResult>;
export const LcSearchResult = z.looseObject({
  users: z.array(LcUser).nullish(),
  // The total number of matches, not the page size.
  count: z.number().nullish(),
});

/** Query of `GET /users/search`; the upstream takes every value as a string. */
export interface LcSearchQuery {
  companyId: string;
  query?: string | undefined;
  locationId?: string | undefined;
  role?: string | undefined;
  type?: string | undefined;
  limit: number;
  skip: number;
}

/** The body of `PUT /users/{userId}`: every field optional, only given fields are sent. */
/**
 * The fields of a user to change, as update_user's input schema defines them (the tool derives the
 * type from its zod schema; this client sends them as JSON, unchanged).
 */
export type LcUserChanges = Readonly<Record<string, unknown>>;

export interface LeadConnectorClientOptions {
  baseUrl: string;
  token: string;
  apiVersion: string;
  backoffBaseMs?: number;
}

/**
 * LeadConnector (HighLevel) users API.
 * @see https://highlevel.stoplight.io/docs/integrations (Users: Get User, Update User)
 */
export class LeadConnectorClient {
  readonly http: HttpClient;
  /** The token's account, as a hash (see accountKey). */
  readonly account: string;
  private readonly auth: Record<string, string>;

  constructor(options: LeadConnectorClientOptions) {
    this.http = new HttpClient({
      provider: "leadconnector",
      baseUrl: options.baseUrl,
      backoffBaseMs: options.backoffBaseMs,
      headers: { version: options.apiVersion },
    });
    this.auth = { authorization: `Bearer ${options.token}` };
    this.account = accountKey(options.baseUrl, options.token);
  }

  /** `GET /users/{userId}` (scope users.readonly) */
  async getUser(ctx: CallContext, userId: string): Promise<LcUser> {
    const res = await this.http.send({
      method: "GET",
      path: `users/${pathSegment("userId", userId)}`,
      headers: this.auth,
      schema: LcUser,
      retry: "idempotent",
      ctx,
    });
    return res.data;
  }

  /** `GET /users/search` (scope users.readonly; agency or sub-account token). */
  async searchUsers(ctx: CallContext, q: LcSearchQuery): Promise<LcSearchResult> {
    const params = new URLSearchParams({ companyId: q.companyId, skip: String(q.skip), limit: String(q.limit) });
    for (const key of ["query", "locationId", "role", "type"] as const) {
      const v = q[key];
      if (v !== undefined) params.set(key, v);
    }
    const res = await this.http.send({
      method: "GET",
      path: `users/search?${params.toString()}`,
      headers: this.auth,
      schema: LcSearchResult,
      retry: "idempotent",
      ctx,
    });
    return res.data;
  }

  /** `PUT /users/{userId}` (scope users.write). Replacement semantics apply to twilioPhone and scopes. */
  async updateUser(ctx: CallContext, userId: string, body: LcUserChanges): Promise<LcUser> {
    const res = await this.http.send({
      method: "PUT",
      path: `users/${pathSegment("userId", userId)}`,
      headers: this.auth,
      json: body,
      schema: LcUser,
      retry: "idempotent",
      ctx,
    });
    return res.data;
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

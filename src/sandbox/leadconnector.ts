import { bearer, type HandlerRequest, type HandlerResponse, parseJson, RateLimiter, SANDBOX_CREDENTIALS } from "./shared.js";

const LANGUAGES = ["en_US", "es", "fr_CA", "fr_FR", "nl", "de", "pt_PT", "pt_BR", "it", "sv", "da", "fi", "no"];
const E164 = /^\+[1-9]\d{6,14}$/;

interface StoredUser {
  id: string;
  firstName: string;
  lastName: string;
  email: string;
  phone: string;
  extension: string;
  password: string;
  type: string;
  role: string;
  companyId: string;
  locationIds: string[];
  permissions: Record<string, boolean>;
  scopes: string[];
  scopesAssignedToOnly: string[];
  profilePhoto: string;
  twilioPhone: Record<string, string>;
  lcPhone: Record<string, string>;
  platformLanguage: string;
  deleted: boolean;
}

function seedUsers(): Map<string, StoredUser> {
  const users: StoredUser[] = [
    {
      id: "0IHuJvc2ofPAAA8GzTRi",
      firstName: "John",
      lastName: "Deo",
      email: "john@deo.com",
      phone: "+18088688888",
      extension: "",
      password: "initial-password-not-returned",
      type: "account",
      role: "admin",
      companyId: COMPANY_ID,
      locationIds: ["C2QujeCh8ZnC7al2InWR"],
      permissions: { campaignsEnabled: true, contactsEnabled: true, workflowsEnabled: true, settingsEnabled: true, invoiceEnabled: false },
      scopes: ["contacts.write", "campaigns.readonly"],
      scopesAssignedToOnly: [],
      profilePhoto: "",
      twilioPhone: { C2QujeCh8ZnC7al2InWR: "+18832327657" },
      lcPhone: { C2QujeCh8ZnC7al2InWR: "+18832320000" },
      platformLanguage: "en_US",
      deleted: false,
    },
    {
      id: "aB3dE5gH7jK9mN1pQ3sT",
      firstName: "Rosa",
      lastName: "Marquez",
      email: "rosa@example.com",
      phone: "+15125550199",
      extension: "12",
      password: "another-initial-password",
      type: "account",
      role: "user",
      companyId: COMPANY_ID,
      locationIds: ["C2QujeCh8ZnC7al2InWR", "M2QrtfVt8ZnC7cv2InDL"],
      permissions: { contactsEnabled: true, conversationsEnabled: true },
      scopes: ["contacts.write", "conversations.readonly"],
      scopesAssignedToOnly: ["contacts.write"],
      profilePhoto: "",
      twilioPhone: {},
      lcPhone: {},
      platformLanguage: "es",
      deleted: false,
    },
    person("sAmL33sUbAcc0unt0001", "Sam", "Lee", "sam.lee@example.com", "+15125550142", "user", ["M2QrtfVt8ZnC7cv2InDL"]),
    person("k1mNguy3nAdm1n000002", "Kim", "Nguyen", "kim.nguyen@example.com", "+17135550177", "admin", ["C2QujeCh8ZnC7al2InWR"]),
    // A Persian name spelled with a zero-width non-joiner (U+200C) between its two parts, as Persian does.
    person("n1l00farRah1m1000003", "علی\u200cاکبر", "کریمی", "ali.karimi@example.com", "+14155550123", "user", ["M2QrtfVt8ZnC7cv2InDL"]),
    { ...person("pAtAg3ncy0wn3r000004", "Pat", "Okafor", "pat@agency.example.com", "+13055550190", "admin", []), type: "agency" },
    {
      ...person("d3l3t3dUs3r000000005", "Lee", "Former", "former@example.com", "+12065550111", "user", ["C2QujeCh8ZnC7al2InWR"]),
      deleted: true,
    },
  ];
  return new Map(users.map((u) => [u.id, u]));
}

function person(
  id: string,
  firstName: string,
  lastName: string,
  email: string,
  phone: string,
  role: string,
  locationIds: string[],
): StoredUser {
  return {
    id,
    firstName,
    lastName,
    email,
    phone,
    extension: "",
    password: "seeded-password-not-returned",
    type: "account",
    role,
    companyId: COMPANY_ID,
    locationIds,
    permissions: { contactsEnabled: true },
    scopes: ["contacts.write"],
    scopesAssignedToOnly: [],
    profilePhoto: "",
    twilioPhone: {},
    lcPhone: {},
    platformLanguage: "en_US",
    deleted: false,
  };
}

/** The company (agency) every sandbox user and token belongs to. */
export const COMPANY_ID = "UAXssdawIWAWD";

/** The response DTO: no password, and no twilioPhone (the real API does not return it). */
function dto(u: StoredUser): Record<string, unknown> {
  return {
    id: u.id,
    name: `${u.firstName} ${u.lastName}`.trim(),
    firstName: u.firstName,
    lastName: u.lastName,
    email: u.email,
    phone: u.phone,
    extension: u.extension,
    permissions: u.permissions,
    scopes: u.scopes,
    roles: { type: u.type, role: u.role, locationIds: u.locationIds, restrictSubAccount: false },
    lcPhone: u.lcPhone,
    platformLanguage: u.platformLanguage,
    deleted: u.deleted,
  };
}

const err = (status: number, message: string | string[], error?: string, headers?: Record<string, string>): HandlerResponse => ({
  status,
  ...(headers ? { headers } : {}),
  body: { statusCode: status, message, ...(error ? { error } : {}) },
});

export function createLeadConnector(options: { rateLimit?: number | undefined } = {}) {
  let users = seedUsers();
  const tokens = new Map<string, string[]>([
    [SANDBOX_CREDENTIALS.leadconnectorToken, ["users.readonly", "users.write"]],
    [SANDBOX_CREDENTIALS.leadconnectorReadOnlyToken, ["users.readonly"]],
  ]);
  const limiter = new RateLimiter(options.rateLimit ?? 100, 10_000);
  let daily = 0;

  function handle(req: HandlerRequest): HandlerResponse {
    const token = bearer(req.headers);
    const scopes = token ? tokens.get(token) : undefined;
    if (!scopes) return err(401, "Invalid token: access token is invalid", "Unauthorized");
    if (!req.headers.version) return err(400, "version header was not found", "Bad Request");
    if (req.headers.version !== "2021-07-28") return err(400, `Version ${req.headers.version} is not supported`, "Bad Request");

    const rl = limiter.hit(token as string);
    daily += 1;
    const rateHeaders = {
      "x-ratelimit-max": String(limiter.limit),
      "x-ratelimit-remaining": String(rl.remaining),
      "x-ratelimit-interval-milliseconds": String(limiter.windowMs),
      "x-ratelimit-limit-daily": "200000",
      "x-ratelimit-daily-remaining": String(Math.max(0, 200_000 - daily)),
    };
    if (rl.over)
      return err(429, "Too many requests", "Too Many Requests", { ...rateHeaders, "retry-after": String(Math.ceil(rl.resetMs / 1000)) });

    if (req.path === "/users/search") {
      if (req.method !== "GET") return err(404, `Cannot ${req.method} ${req.path}`, "Not Found");
      if (!scopes.includes("users.readonly")) return err(403, "The token is not authorized for this scope.", "Forbidden");
      return { ...search(users, req.query), headers: rateHeaders };
    }
    const m = /^\/users\/([^/]+)$/.exec(req.path);
    if (!m) return err(404, `Cannot ${req.method} ${req.path}`, "Not Found");
    const id = decodeURIComponent(m[1] as string);
    const user = users.get(id);

    if (req.method === "GET") {
      if (!scopes.includes("users.readonly")) return err(403, "The token is not authorized for this scope.", "Forbidden");
      if (!user) return err(404, "User not found", "Not Found");
      return { status: 200, headers: rateHeaders, body: dto(user) };
    }
    if (req.method === "PUT") {
      if (!scopes.includes("users.write")) return err(403, "The token is not authorized for this scope.", "Forbidden");
      if (!user) return err(404, "User not found", "Not Found");
      const parsed = parseJson(req.body);
      if (!parsed.ok || typeof parsed.value !== "object" || parsed.value === null || Array.isArray(parsed.value)) {
        return err(400, "Unexpected token in JSON body", "Bad Request");
      }
      const body = parsed.value as Record<string, unknown>;
      if ("email" in body) return err(400, "Email update is no longer supported due to security reasons.", "Bad Request");
      const problems = validate(body);
      if (problems.length) return err(422, problems, "Unprocessable Entity");
      apply(user, body);
      return { status: 200, headers: rateHeaders, body: dto(user) };
    }
    return err(404, `Cannot ${req.method} ${req.path}`, "Not Found");
  }

  return {
    handle,
    reset() {
      users = seedUsers();
      limiter.reset();
      daily = 0;
    },
    user: (id: string) => users.get(id),
    /** Adds an ordinary user (tests that need many records); gone at the next reset. */
    add: (id: string, firstName: string) => {
      users.set(id, person(id, firstName, "Tester", `${id}@example.com`, "+15125550100", "user", []));
    },
    limiter,
  };
}

/** `GET /users/search`: every parameter a string, companyId required, count the total of matches. */
function search(users: Map<string, StoredUser>, q: URLSearchParams): HandlerResponse {
  const companyId = q.get("companyId");
  const problems: string[] = [];
  if (!companyId) problems.push("companyId should not be empty", "companyId must be a string");
  for (const k of ["skip", "limit"]) {
    const v = q.get(k);
    if (v !== null && !/^\d+$/.test(v)) problems.push(`${k} must be a number string`);
  }
  const role = q.get("role");
  const type = q.get("type");
  if (role !== null && !["admin", "user"].includes(role)) problems.push("role must be one of the following values: admin, user");
  if (type !== null && !["account", "agency"].includes(type)) problems.push("type must be one of the following values: account, agency");
  if (problems.length) return err(422, problems, "Unprocessable Entity");
  // Every sandbox token belongs to one company: another company is the agency/sub-account mismatch.
  if (companyId !== COMPANY_ID) return err(403, "The token does not have access to this company.", "Forbidden");
  const text = q.get("query")?.trim().toLowerCase();
  const locationId = q.get("locationId");
  const matches = [...users.values()]
    .filter(
      (u) =>
        (!text ||
          `${u.firstName} ${u.lastName}`.toLowerCase().includes(text) ||
          u.email.toLowerCase().includes(text) ||
          u.phone.includes(text)) &&
        (!locationId || u.locationIds.includes(locationId)) &&
        (!role || u.role === role) &&
        (!type || u.type === type),
    )
    .sort((a, b) => `${a.firstName} ${a.lastName}`.localeCompare(`${b.firstName} ${b.lastName}`));
  const skip = Number(q.get("skip") ?? "0");
  const limit = Number(q.get("limit") ?? "25");
  return { status: 200, body: { users: matches.slice(skip, skip + limit).map(dto), count: matches.length } };
}

function validate(b: Record<string, unknown>): string[] {
  const out: string[] = [];
  const str = (k: string) => k in b && typeof b[k] !== "string" && out.push(`${k} must be a string`);
  ["firstName", "lastName", "password", "phone", "companyId", "profilePhoto"].forEach(str);
  if ("type" in b && !["account", "agency"].includes(b.type as string))
    out.push("type must be one of the following values: account, agency");
  if ("role" in b && !["admin", "user"].includes(b.role as string)) out.push("role must be one of the following values: admin, user");
  if ("platformLanguage" in b && !LANGUAGES.includes(b.platformLanguage as string))
    out.push(`platformLanguage must be one of the following values: ${LANGUAGES.join(", ")}`);
  for (const k of ["locationIds", "scopes", "scopesAssignedToOnly"]) {
    if (k in b && !(Array.isArray(b[k]) && (b[k] as unknown[]).every((x) => typeof x === "string")))
      out.push(`${k} must be an array of strings`);
  }
  if ("permissions" in b) {
    const p = b.permissions;
    if (typeof p !== "object" || p === null || Array.isArray(p) || !Object.values(p).every((v) => typeof v === "boolean"))
      out.push("permissions must be an object of booleans");
  }
  if ("twilioPhone" in b) {
    const t = b.twilioPhone;
    if (typeof t !== "object" || t === null || Array.isArray(t)) out.push("twilioPhone must be an object");
    else
      for (const [loc, n] of Object.entries(t))
        if (n !== "" && !(typeof n === "string" && E164.test(n)))
          out.push(`twilioPhone.${loc} must be a valid phone number in E.164 format`);
  }
  if ("profilePhoto" in b && typeof b.profilePhoto === "string" && !/^https?:\/\//.test(b.profilePhoto))
    out.push("profilePhoto must be a URL address");
  return out;
}

function apply(u: StoredUser, b: Record<string, unknown>) {
  for (const k of [
    "firstName",
    "lastName",
    "password",
    "phone",
    "type",
    "role",
    "companyId",
    "profilePhoto",
    "platformLanguage",
  ] as const) {
    if (typeof b[k] === "string") u[k] = b[k] as string;
  }
  if (Array.isArray(b.locationIds)) u.locationIds = b.locationIds as string[];
  if (b.permissions) u.permissions = { ...u.permissions, ...(b.permissions as Record<string, boolean>) };
  // Replacement semantics, as documented: the sent list or map is the new whole.
  if (Array.isArray(b.scopes)) u.scopes = b.scopes as string[];
  if (Array.isArray(b.scopesAssignedToOnly)) u.scopesAssignedToOnly = b.scopesAssignedToOnly as string[];
  if (b.twilioPhone && typeof b.twilioPhone === "object") {
    u.twilioPhone = Object.fromEntries(Object.entries(b.twilioPhone as Record<string, string>).filter(([, n]) => n !== ""));
  }
}

import { bearer, type HandlerRequest, type HandlerResponse, parseJson, RateLimiter, SANDBOX_CREDENTIALS } from "./shared.js";

/** The current (2025) shape: notification preferences, licensed states and products, unmodelled extras. */
function currentUser(): Record<string, unknown> {
  return {
    id: "usr_01HZX3SANDBOX",
    name: "Avery Quinn",
    email: "avery.quinn@example.com",
    firstName: "Avery",
    lastName: "Quinn",
    phone: "+15125550100",
    billingPlan: "Monthly",
    subscriptionStatus: "Active",
    roles: ["Agent", "Admin"],
    identities: [{ issuer: "leadping", issuerAssignedId: "avery", signInType: "emailAddress" }],
    currentBusiness: { id: "biz_100", name: "Quinn Insurance Group" },
    timeZoneId: "America/Chicago",
    compliance: {
      acceptedTerms: true,
      acceptedToSubscription: true,
      acceptedSms: true,
      acceptedBaa: false,
      acceptedEmail: true,
      trustedFormCertificates: [
        {
          id: "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
          url: "https://cert.trustedform.com/0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
          source: "landing-page",
          createdAt: "2025-03-02T15:04:05Z",
        },
      ],
      licensedStates: ["TX", "OK"],
      licensedProducts: ["Medicare", "Life"],
      // A field the vendor added that this server does not model: it must survive every update.
      tcpaDisclosureVersion: "2025-01",
    },
    notificationPreferences: { newLeadEnabled: true, newLeadSmsEnabled: false, billingEmailEnabled: true },
    mobileDevicePreferences: [],
    lastLoggedInAt: "2026-11-20T09:30:00Z",
    personalDataDeletionStatus: null,
    createdAt: "2024-06-01T12:00:00Z",
    modifiedAt: "2026-11-20T09:30:00Z",
  };
}

/** The older (2024) shape: stripeInfo, accountBalance, auto-refill, business, enum roles, no licensed lists. */
function legacyUser(): Record<string, unknown> {
  return {
    id: "usr_01HLEGACY",
    createdAt: "2023-11-07T05:31:56Z",
    modifiedAt: null,
    name: "Morgan Lee",
    email: "morgan.lee@example.com",
    firstName: "Morgan",
    lastName: "Lee",
    phone: null,
    roles: ["Initialized", "Agent"],
    identities: [],
    stripeInfo: { customerId: "cus_SANDBOX", defaultPaymentMethodId: null, subscriptionIds: [], cancelAt: null },
    accountBalance: 42.5,
    autoRefillEnabled: false,
    autoRefillAmount: null,
    autoRefillTrigger: null,
    business: { id: "biz_7", name: "Lee Leads" },
    compliance: {
      acceptedTerms: true,
      acceptedToSubscription: false,
      acceptedSms: false,
      acceptedBaa: false,
      acceptedEmail: false,
      trustedFormCertificates: [],
    },
  };
}

const BOOLEAN_FIELDS = ["acceptedTerms", "acceptedToSubscription", "acceptedSms", "acceptedBaa", "acceptedEmail"];

function problem(
  status: number,
  title: string,
  detail: string,
  errors?: Record<string, string[]>,
  headers: Record<string, string> = {},
): HandlerResponse {
  return {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
    body: {
      type: `https://httpstatuses.io/${status}`,
      title,
      status,
      detail,
      instance: `/req/${Math.random().toString(36).slice(2, 10)}`,
      ...(errors ? { errors } : {}),
    },
  };
}

export function createLeadping(options: { rateLimit?: number | undefined } = {}) {
  let users = new Map<string, Record<string, unknown>>();
  const seed = () => {
    users = new Map([
      [SANDBOX_CREDENTIALS.leadpingToken, currentUser()],
      [SANDBOX_CREDENTIALS.leadpingLegacyToken, legacyUser()],
    ]);
  };
  seed();
  const limiter = new RateLimiter(options.rateLimit ?? 300, 60_000);

  function handle(req: HandlerRequest): HandlerResponse {
    const token = bearer(req.headers);
    const user = token ? users.get(token) : undefined;
    if (!user) {
      return problem(
        401,
        "Unauthorized",
        token?.startsWith("lp_src_") ? "Source keys cannot access user endpoints." : "A valid bearer token is required.",
        undefined,
        {
          "www-authenticate": 'Bearer resource_metadata="https://api.leadping.ai/.well-known/oauth-protected-resource"',
        },
      );
    }
    const rl = limiter.hit(token as string);
    if (rl.over)
      return problem(429, "Too Many Requests", "Rate limit of 300 requests per 60 seconds exceeded.", undefined, {
        "retry-after": String(Math.ceil(rl.resetMs / 1000)),
      });

    if (req.method === "GET" && req.path === "/users/me") return { status: 200, body: user };
    if (req.method === "PUT" && req.path === "/users/compliance") return updateCompliance(user, req.body);
    return problem(404, "Not Found", `No route for ${req.method} ${req.path}.`);
  }

  function updateCompliance(user: Record<string, unknown>, raw: string): HandlerResponse {
    const parsed = parseJson(raw);
    if (!parsed.ok) return problem(400, "Bad Request", "The request body is not valid JSON.");
    const body = parsed.value as Record<string, unknown> | null;
    const compliance = body && typeof body === "object" ? (body.compliance as Record<string, unknown> | undefined) : undefined;
    if (!compliance || typeof compliance !== "object" || Array.isArray(compliance)) {
      return problem(400, "One or more validation errors occurred.", "compliance is required.", {
        compliance: ["The compliance field is required."],
      });
    }
    const errors: Record<string, string[]> = {};
    for (const f of BOOLEAN_FIELDS) {
      if (f in compliance && compliance[f] !== null && typeof compliance[f] !== "boolean")
        errors[`compliance.${f}`] = [`${f} must be a boolean.`];
    }
    const certs = compliance.trustedFormCertificates;
    if (certs !== undefined && certs !== null) {
      if (!Array.isArray(certs)) errors["compliance.trustedFormCertificates"] = ["Must be an array."];
      else
        certs.forEach((c: { url?: unknown }, i) => {
          let ok = false;
          try {
            const u = new URL(String(c?.url));
            ok = u.protocol === "https:" && (u.hostname === "trustedform.com" || u.hostname.endsWith(".trustedform.com"));
          } catch {}
          if (!ok) errors[`compliance.trustedFormCertificates[${i}].url`] = ["Certificate URL must be hosted by trustedform.com."];
        });
    }
    if (body && "source" in body && body.source !== null && typeof body.source !== "string")
      errors.source = ["source must be a string or null."];
    if (Object.keys(errors).length) return problem(400, "One or more validation errors occurred.", "See errors for details.", errors);
    // The real endpoint replaces the compliance record with what it is sent: a partial body loses data.
    user.compliance = compliance;
    user.modifiedAt = new Date().toISOString();
    return { status: 200, body: user };
  }

  return {
    handle,
    reset() {
      seed();
      limiter.reset();
    },
    userFor: (token: string) => users.get(token),
    limiter,
  };
}

import { randomBytes } from "node:crypto";
import { bearer, type HandlerRequest, type HandlerResponse, parseJson, SANDBOX_CREDENTIALS } from "./shared.js";

const MOBILE = /^(?=.*?\d.*?\d.*?\d.*?\d.*?\d)([+]?)([\d\s()-]{5,20})$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REQUIRED = ["DisplayName", "EmailAddress", "Enabled", "LanguageID", "MobilePhone", "TimeZone", "Username"];
const SERVER_SET = ["AgreementDate", "DeclineDate", "DPAVersion", "PrivacyPolicyVersion", "DateCreated", "DateModified", "ID", "AccountID"];

export const SANDBOX_TWOSMS_USER_ID = "c8e4ae5d-ebc0-4f08-a0a0-05399413bb43";

function seedUsers(): Map<string, Record<string, unknown>> {
  const users: Array<Record<string, unknown>> = [
    {
      ID: SANDBOX_TWOSMS_USER_ID,
      AccountID: "2bae3b5e-7785-454a-a3fb-b1e3dfef1a2c",
      AdminUser: true,
      Enabled: true,
      DisplayName: "Priya Shah",
      EmailAddress: "priya.shah@example.co.uk",
      Username: "priya.shah",
      MobilePhone: "+44 7700 900123",
      TimeZone: "GMT Standard Time",
      Password: "stored-password-hash",
      Pin: "4821",
      DPAVersion: "3.1",
      PrivacyPolicyVersion: "2025-02",
      LanguageID: "12e59a6b-77a9-4af4-88c1-fb271171c0e2",
      Preferences: 0,
      DateCreated: "2024-01-10T09:00:00.0000000+00:00",
      DateModified: "2025-05-15T23:56:56.4782099+00:00",
      AgreementDate: "2025-05-15T23:56:56.4782099+00:00",
      DeclineDate: null,
    },
    {
      ID: "950c5cc3-a161-4d7e-858c-c8359d79b2a9",
      AccountID: "2bae3b5e-7785-454a-a3fb-b1e3dfef1a2c",
      AdminUser: false,
      Enabled: true,
      DisplayName: "Tom Baker",
      EmailAddress: "tom.baker@example.co.uk",
      Username: "tbaker",
      MobilePhone: "07700 900456",
      TimeZone: "GMT Standard Time",
      Password: "another-stored-hash",
      Pin: null,
      DPAVersion: null,
      PrivacyPolicyVersion: null,
      LanguageID: "12e59a6b-77a9-4af4-88c1-fb271171c0e2",
      Preferences: 2,
      DateCreated: "2024-03-01T10:00:00.0000000+00:00",
      DateModified: "2024-03-01T10:00:00.0000000+00:00",
      AgreementDate: null,
      DeclineDate: "2024-03-02T08:00:00.0000000+00:00",
    },
    {
      // Sinhala spells "shri" with a zero-width joiner after the virama (ශ්‍රී); the display name also
      // carries an emoji ZWJ sequence (woman technologist). Both must survive a read and a write back.
      ID: "4f1d7a52-93e0-4c1b-8b7e-2a6c0d9e5f31",
      AccountID: "2bae3b5e-7785-454a-a3fb-b1e3dfef1a2c",
      AdminUser: false,
      Enabled: true,
      DisplayName: "\u0DC1\u0DCA\u200D\u0DBB\u0DD2\u0DBA\u0DCF \u0DB4\u0DD9\u0DBB\u0DDA\u0DBB\u0DCF \u{1F469}\u200D\u{1F4BB}",
      EmailAddress: "shriya.perera@example.lk",
      Username: "sperera",
      MobilePhone: "+94 77 123 4567",
      TimeZone: "Sri Lanka Standard Time",
      Password: "third-stored-hash",
      Pin: "4321",
      DPAVersion: "2.0",
      PrivacyPolicyVersion: "2024-06",
      LanguageID: "12e59a6b-77a9-4af4-88c1-fb271171c0e2",
      Preferences: 0,
      DateCreated: "2025-01-20T06:30:00.0000000+00:00",
      DateModified: "2025-01-20T06:30:00.0000000+00:00",
      AgreementDate: "2025-01-20T06:31:00.0000000+00:00",
      DeclineDate: null,
    },
  ];
  return new Map(users.map((u) => [String(u.ID).toLowerCase(), u]));
}

const envelope = (detail: Record<string, unknown> | null, result: string, error?: { ErrorCode: string; ErrorReason: string }) => ({
  Error: error ?? null,
  ResponseData: error ? null : { Identification: { UserId: detail?.ID ?? null }, Result: result, Detail: detail },
});

const denied: HandlerResponse = { status: 401, body: { Message: "Authorization has been denied for this request." } };

export function createTwoSms(options: { tokenLifetimeSeconds?: number | undefined } = {}) {
  let users = seedUsers();
  const tokens = new Map<string, number>();
  let tokenRequests = 0;
  const lifetime = options.tokenLifetimeSeconds ?? 28_800;

  function handle(req: HandlerRequest): HandlerResponse {
    if (req.method === "POST" && req.path.toLowerCase() === "/token") return token(req);

    const t = bearer(req.headers);
    const expires = t ? tokens.get(t) : undefined;
    if (expires === undefined || Date.now() >= expires) return denied;

    let m = /^\/api\/v1\/admin\/users\/([^/]+)$/i.exec(req.path);
    if (m && req.method === "GET") {
      const id = decodeURIComponent(m[1] as string);
      const user = GUID.test(id) ? users.get(id.toLowerCase()) : undefined;
      if (!user)
        return { status: 200, body: envelope(null, "", { ErrorCode: "UserNotFound", ErrorReason: "The user could not be found." }) };
      return { status: 200, body: envelope(user, "OK") };
    }
    m = /^\/api\/v1\/UserAdminAPI\/UserUpdateGDPR\/([^/]+)$/i.exec(req.path);
    if (m && req.method === "POST") return update(decodeURIComponent(m[1] as string), req);
    return { status: 404, body: { Message: `No HTTP resource was found that matches the request URI '${req.path}'.` } };
  }

  function token(req: HandlerRequest): HandlerResponse {
    tokenRequests += 1;
    if (!(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) {
      return { status: 400, body: { error: "invalid_request", error_description: "The request must be form-encoded." } };
    }
    const form = new URLSearchParams(req.body);
    if (form.get("grant_type") !== "client_credentials") {
      return { status: 400, body: { error: "unsupported_grant_type", error_description: "grant_type must be client_credentials." } };
    }
    if (
      form.get("client_id") !== SANDBOX_CREDENTIALS.twosmsClientId ||
      form.get("client_secret") !== SANDBOX_CREDENTIALS.twosmsClientSecret
    ) {
      return { status: 400, body: { error: "invalid_client", error_description: "The client_id or client_secret is incorrect." } };
    }
    const value = randomBytes(24).toString("base64url");
    tokens.set(value, Date.now() + lifetime * 1000);
    return { status: 200, body: { access_token: value, token_type: "bearer", expires_in: lifetime } };
  }

  function update(id: string, req: HandlerRequest): HandlerResponse {
    if (!GUID.test(id))
      return {
        status: 400,
        body: { Message: "The request is invalid.", ModelState: { id: [`The value '${id}' is not valid for Guid.`] } },
      };
    const parsed = parseJson(req.body);
    if (!parsed.ok || typeof parsed.value !== "object" || parsed.value === null) {
      return { status: 400, body: { Message: "The request is invalid.", ModelState: { user: ["The request body could not be read."] } } };
    }
    const body = parsed.value as Record<string, unknown>;
    const modelState = gdprModelState(body);
    if (Object.keys(modelState).length) return { status: 400, body: { Message: "The request is invalid.", ModelState: modelState } };

    const user = users.get(id.toLowerCase());
    if (!user) return { status: 200, body: envelope(null, "", { ErrorCode: "UserNotFound", ErrorReason: "The user could not be found." }) };
    const clash = [...users.values()].find((u) => u !== user && String(u.Username).toLowerCase() === String(body.Username).toLowerCase());
    if (clash)
      return {
        status: 200,
        body: envelope(null, "", { ErrorCode: "DuplicateUsername", ErrorReason: `The username '${body.Username}' is already in use.` }),
      };

    for (const [k, v] of Object.entries(body)) {
      if (SERVER_SET.includes(k)) continue;
      // Absent Password leaves it as it is; Pin: null means "random PIN at each login".
      user[k] = v;
    }
    user.DateModified = new Date().toISOString().replace("Z", "0000+00:00");
    return { status: 200, body: envelope(user, "User updated") };
  }

  return {
    handle,
    reset() {
      users = seedUsers();
      tokens.clear();
      tokenRequests = 0;
    },
    user: (id: string) => users.get(id.toLowerCase()),
    tokenRequests: () => tokenRequests,
    /** Makes every issued token expire now (a token that outlived its 8 hours). */
    expireTokens() {
      for (const k of tokens.keys()) tokens.set(k, 0);
    },
  };
}

/** What 2SMS's model validation says of an update body: field → messages (empty when it is valid). */
function gdprModelState(body: Record<string, unknown>): Record<string, string[]> {
  const modelState: Record<string, string[]> = {};
  for (const f of REQUIRED) {
    if (body[f] === undefined || body[f] === null || body[f] === "") modelState[`user.${f}`] = [`The ${f} field is required.`];
  }
  if (typeof body.EmailAddress === "string" && body.EmailAddress !== "" && !EMAIL.test(body.EmailAddress)) {
    modelState["user.EmailAddress"] = ["The EmailAddress field is not a valid e-mail address."];
  }
  if (typeof body.MobilePhone === "string" && body.MobilePhone !== "" && !MOBILE.test(body.MobilePhone)) {
    modelState["user.MobilePhone"] = [
      "The field MobilePhone must match the regular expression '^(?=.*?\\d.*?\\d.*?\\d.*?\\d.*?\\d)([+]?)([\\d\\s\\(\\)-]{5,20})$'.",
    ];
  }
  if (body.LanguageID !== undefined && !(typeof body.LanguageID === "string" && GUID.test(body.LanguageID))) {
    modelState["user.LanguageID"] = ["The LanguageID field is not a valid Guid."];
  }
  return modelState;
}

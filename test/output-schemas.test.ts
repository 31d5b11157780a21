/**
 * Output schemas against drifted upstream records. The low-level MCP `Server` does not check a result
 * against the tool's output schema, so this does: fast-check builds records in every shape the upstream
 * contracts allow (older and newer seeds, the vendor's 2026 OpenAPI, known fields null or missing,
 * fields this server does not model), the sandbox answers with them over real HTTP, and each read tool
 * and each write tool's dry run must answer with structuredContent its own output schema accepts.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ToolDefinition } from "../src/tools/define.js";
import { ALL_TOOLS } from "../src/tools/index.js";
import { type Harness, startHarness } from "./harness.js";

const RUNS = Number(process.env.FC_RUNS ?? 40);
const LC_USER = "0IHuJvc2ofPAAA8GzTRi";
const GUID = "5b0f2c7e-8d1a-4c3b-9e6f-1a2b3c4d5e6f";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ sandbox: { leadpingRateLimit: 1_000_000, leadconnectorRateLimit: 1_000_000 } });
});
afterAll(() => h.close());

const tool = (name: string) => ALL_TOOLS.find((t) => t.name === name) as ToolDefinition;

/** A known field as the contract allows it: present, null, or absent (undefined keys are dropped by JSON). */
const drift = <T>(value: fc.Arbitrary<T>) => fc.option(fc.option(value, { nil: null }), { nil: undefined });
/** Fields no contract names yet: a later version of the API may add any. */
const unknownFields = fc.dictionary(
  fc.constantFrom("futureField", "x_vendor_extra", "featureFlags"),
  fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.object({ maxDepth: 1 })),
);
const someObject = fc.object({ maxDepth: 1 });
const text = fc.string({ maxLength: 30 });
const iso = fc.date({ min: new Date("2000-01-01"), max: new Date("2030-01-01"), noInvalidDate: true }).map((d) => d.toISOString());

const certificate = fc.record(
  {
    id: drift(fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 40, maxLength: 40 })),
    url: drift(fc.webUrl()),
    source: drift(text),
    createdAt: drift(iso),
  },
  { requiredKeys: [] },
);
const compliance = fc.record(
  {
    acceptedTerms: drift(fc.boolean()),
    acceptedToSubscription: drift(fc.boolean()),
    acceptedSms: drift(fc.boolean()),
    acceptedBaa: drift(fc.boolean()),
    acceptedEmail: drift(fc.boolean()),
    trustedFormCertificates: drift(fc.array(certificate, { maxLength: 3 })),
    licensedStates: drift(fc.array(fc.constantFrom("CA", "NY", "TX"), { maxLength: 3 })),
    licensedProducts: drift(fc.array(text, { maxLength: 3 })),
  },
  { requiredKeys: [] },
);

/** Leadping users of seed 001 (older), seed 000 (newer) and the vendor's 2026 OpenAPI. */
const leadpingUser = fc
  .tuple(
    fc.record(
      {
        name: drift(text),
        firstName: drift(text),
        lastName: drift(text),
        email: drift(fc.emailAddress()),
        phone: drift(text),
        compliance: drift(compliance),
        lastLoggedInAt: drift(iso),
        billingPlan: drift(fc.constantFrom("Annual", "Monthly")),
        subscriptionStatus: drift(fc.constantFrom("Pending", "Active", "Overdue", "Canceled")),
        // A list of the seed's enum values, or (2026) of plain strings.
        roles: drift(fc.array(fc.oneof(fc.constantFrom("Initialized", "Agent", "Admin", "SuperUser"), text), { maxLength: 3 })),
        accountBalance: drift(fc.double({ noNaN: true, noDefaultInfinity: true })),
        autoRefillEnabled: drift(fc.boolean()),
        stripeInfo: drift(someObject),
        business: drift(someObject),
        currentBusiness: drift(someObject),
        notificationPreferences: drift(someObject),
        timeZoneId: drift(text),
        billingState: drift(text),
        currentOrganization: drift(someObject),
      },
      { requiredKeys: [] },
    ),
    unknownFields,
  )
  .map(([known, extra]) => ({ id: "user_1", ...extra, ...known }));

const lcUser = fc
  .tuple(
    fc.record(
      {
        name: drift(text),
        firstName: drift(text),
        lastName: drift(text),
        email: drift(fc.emailAddress()),
        phone: drift(text),
        extension: drift(text),
        permissions: drift(fc.dictionary(fc.constantFrom("contactsEnabled", "campaignsEnabled", "futureFlagEnabled"), fc.boolean())),
        scopes: drift(fc.array(text, { maxLength: 3 })),
        scopesAssignedToOnly: drift(fc.array(text, { maxLength: 3 })),
        roles: drift(
          fc.record(
            {
              type: drift(fc.constantFrom("account", "agency")),
              role: drift(fc.constantFrom("admin", "user")),
              locationIds: drift(fc.array(text, { maxLength: 3 })),
              restrictSubAccount: drift(fc.boolean()),
            },
            { requiredKeys: [] },
          ),
        ),
        lcPhone: drift(fc.dictionary(text, fc.constant("+18832327657"))),
        platformLanguage: drift(fc.constantFrom("en_US", "es", "de")),
        profilePhoto: drift(fc.webUrl()),
      },
      { requiredKeys: [] },
    ),
    unknownFields,
  )
  .map(([known, extra]) => ({ id: LC_USER, ...extra, ...known }));

const twoSmsUser = fc
  .tuple(
    fc.record(
      {
        DisplayName: drift(text),
        EmailAddress: drift(fc.emailAddress()),
        Username: drift(text),
        MobilePhone: drift(fc.constant("+44 7700 900123")),
        TimeZone: drift(fc.constant("GMT Standard Time")),
        AdminUser: drift(fc.boolean()),
        Enabled: drift(fc.boolean()),
        LanguageID: drift(fc.uuid()),
        Preferences: drift(fc.integer({ min: 0, max: 1000 })),
        DPAVersion: drift(text),
        PrivacyPolicyVersion: drift(text),
        AgreementDate: drift(iso),
        DeclineDate: drift(iso),
        DateCreated: drift(iso),
        DateModified: drift(iso),
        Pin: drift(fc.constant("1234")),
        Password: drift(fc.constant("hash")),
      },
      { requiredKeys: [] },
    ),
    fc.dictionary(fc.constantFrom("FutureField", "Department", "CostCentre"), fc.oneof(fc.string(), fc.constant(null))),
  )
  .map(([known, extra]) => ({ ID: GUID, AccountID: GUID, ...extra, ...known }));

const envelope = (user: unknown) => ({ Error: null, ResponseData: { Identification: { UserId: GUID }, Result: "OK", Detail: user } });

/** Calls a tool while the upstream answers its read with `record`; its result must fit its output schema. */
async function fits(
  name: string,
  args: Record<string, unknown>,
  answer: { provider: "leadping" | "leadconnector" | "twosms"; path: RegExp; body: unknown },
) {
  h.sandbox.clearFaults();
  h.sandbox.fault({ provider: answer.provider, method: "GET", path: answer.path, kind: "respond", status: 200, body: answer.body });
  const result = await h.call(name, args);
  h.sandbox.clearFaults();
  if (result.isError) {
    // A record the write cannot send back (2SMS requires some fields on every update) is refused by
    // field, never an internal error and never a result of the wrong shape.
    const text = h.text(result);
    expect(text).not.toMatch(/Internal error|bad_response|not the expected shape/);
    expect(text).toMatch(/^Invalid arguments for /);
    return;
  }
  const parsed = tool(name).output.safeParse(result.structuredContent);
  expect(parsed.success, `${name}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
}

describe("output schemas accept every record shape the upstream contracts allow", () => {
  it("Leadping: get_current_user and an update_compliance dry run", async () => {
    await fc.assert(
      fc.asyncProperty(leadpingUser, async (user) => {
        const answer = { provider: "leadping" as const, path: /users\/me$/, body: user };
        await fits("get_current_user", {}, answer);
        await fits("update_compliance", { compliance: { acceptedEmail: false }, dryRun: true }, answer);
      }),
      { numRuns: RUNS },
    );
  });

  it("LeadConnector: get_user and an update_user dry run", async () => {
    await fc.assert(
      fc.asyncProperty(lcUser, async (user) => {
        const answer = { provider: "leadconnector" as const, path: new RegExp(`users/${LC_USER}$`), body: user };
        await fits("get_user", { userId: LC_USER }, answer);
        await fits("update_user", { userId: LC_USER, firstName: "Dana", dryRun: true }, answer);
      }),
      { numRuns: RUNS },
    );
  });

  it("2SMS: get_gdpr_user and an update_gdpr dry run", async () => {
    await fc.assert(
      fc.asyncProperty(twoSmsUser, async (user) => {
        const answer = { provider: "twosms" as const, path: new RegExp(`admin/users/${GUID}$`), body: envelope(user) };
        await fits("get_gdpr_user", { userId: GUID }, answer);
        await fits("update_gdpr", { userId: GUID, displayName: "Dana Reyes", dryRun: true }, answer);
      }),
      { numRuns: RUNS },
    );
  });
});

import { readFileSync } from "node:fs";
import type { CallToolResult, ElicitRequest } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect } from "vitest";
import type { Sandbox } from "../src/sandbox/index.js";
import { SANDBOX_TWOSMS_USER_ID } from "../src/sandbox/twosms.js";
import { out, text, type WriteFixtures, writeTest } from "./fixture.js";
import { type Answer, SANDBOX_CREDENTIALS, type StdioServer, startServer } from "./harness.js";

const LC_USER = "0IHuJvc2ofPAAA8GzTRi";
const GDPR_USER = SANDBOX_TWOSMS_USER_ID;

/** One sensitive and one harmless change per write tool, and where to see whether it was written. */
const SENSITIVE = [
  {
    tool: "update_compliance",
    args: { compliance: { acceptedSms: false } },
    words: /^Withdraw SMS consent for Avery Quinn on Leadping\?\nacceptedSms: true → false$/,
  },
  {
    tool: "update_user",
    args: { userId: LC_USER, role: "user" },
    words: /^Change role for John Deo on LeadConnector\?\nrole: "admin" → "user"$/,
  },
  {
    tool: "update_gdpr",
    args: { userId: GDPR_USER, emailAddress: "priya@example.org" },
    words: /^Change emailAddress for Priya Shah on 2SMS\?\nemailAddress: "priya\.shah@example\.co\.uk" → "priya@example\.org"$/,
  },
] as const;

const it = writeTest();

/** The writes the upstreams received, token requests aside. */
const writes = (sandbox: Sandbox) =>
  sandbox.requests
    .filter((r) => (r.method === "PUT" || r.method === "POST") && r.path !== "/Token")
    .map((r) => `${r.provider} ${r.method}`);
/** With USERS_MCP_CONFIRM as these tests set it, or the default (ask) where they do not. */
const confirmEnv = (env: WriteFixtures["env"], extra: Record<string, string> = {}) => env({ USERS_MCP_CONFIRM: undefined, ...extra });

/** A server over stdio whose host asks a person; `person` decides each answer. */
async function withPerson(
  { sandbox, env: fixtureEnv }: Pick<WriteFixtures, "sandbox" | "env">,
  env: Record<string, string>,
  person: Answer,
  run: (s: StdioServer, asked: ElicitRequest["params"][]) => Promise<void>,
): Promise<void> {
  const asked: ElicitRequest["params"][] = [];
  const s = await startServer(confirmEnv(fixtureEnv, env), [], [], {
    elicit: (p) => {
      asked.push(p);
      return person(p);
    },
  });
  try {
    // A warm server: the first call of a fresh process loads the HTTP client, which on a loaded
    // machine can take much of a short deadline. The tests time the write path, not start-up.
    await s.client.callTool({ name: "get_current_user", arguments: {} });
    sandbox.requests.length = 0; // the warm-up read is no part of what the test counts
    await run(s, asked);
  } finally {
    await s.close();
  }
}

const call = (s: StdioServer, tool: string, args: Record<string, unknown>) =>
  s.client.callTool({ name: tool, arguments: args }) as Promise<CallToolResult>;

describe("USERS_MCP_CONFIRM=ask (the default), with a host that can ask", () => {
  it("asks once per sensitive write, in plain words, and writes only after accept", async ({ sandbox, audit, env }) => {
    await withPerson(
      { sandbox, env },
      {},
      () => ({ action: "accept", content: { confirm: true } }),
      async (s, asked) => {
        for (const c of SENSITIVE) {
          const r = await call(s, c.tool, c.args);
          expect(r.isError, text(r)).toBeFalsy();
          expect(out(r)).toMatchObject({ applied: true, confirmation: "accepted" });
        }
        expect(asked.map((a) => a.message)).toHaveLength(3);
        for (const [i, c] of SENSITIVE.entries()) expect(asked[i]?.message).toMatch(c.words);
        expect(asked[0]).toMatchObject({ mode: "form", requestedSchema: { type: "object", properties: { confirm: { type: "boolean" } } } });
        expect(writes(sandbox)).toEqual(["leadping PUT", "leadconnector PUT", "twosms POST"]);
        expect(
          audit
            .records()
            .filter((l) => l.phase === "intent")
            .map((l) => l.confirmation),
        ).toEqual(["accepted", "accepted", "accepted"]);
      },
    );
  });

  it.for([
    ["decline", { action: "decline" as const }, "declined", /the question asking a person to confirm this change was declined/],
    // The host may close a question nobody saw: the words claim only what the server knows.
    [
      "cancel",
      { action: "cancel" as const },
      "cancelled",
      /the host closed the question without an answer \(it may not have shown it to anyone\)/,
    ],
    ["an answer that does not fit the form", { action: "accept" as const, content: { confirm: "yes" } }, "declined", /was declined/],
    ["accept with the box unticked", { action: "accept" as const, content: { confirm: false } }, "declined", /was declined/],
  ] as const)(
    "%s: nothing is written, and the result is not an error but says so",
    async ([, answer, confirmation, words], { sandbox, audit, env }) => {
      await withPerson(
        { sandbox, env },
        {},
        () => answer,
        async (s, asked) => {
          for (const c of SENSITIVE) {
            const r = await call(s, c.tool, c.args);
            expect(r.isError, text(r)).toBeFalsy();
            expect(out(r)).toMatchObject({ applied: false, dryRun: false, confirmation });
            expect(out(r).message).toMatch(words);
            expect(out(r).message).toMatch(/Do not retry it unless the person asks you to/);
            expect(out(r).message).not.toMatch(/dismissed|the person .*declined/);
          }
          expect(asked).toHaveLength(3);
          expect(writes(sandbox)).toEqual([]);
          const lines = audit.records();
          expect(lines.map((l) => [l.phase, l.outcome, l.confirmation])).toEqual(Array(3).fill(["outcome", "declined", confirmation]));
        },
      );
    },
  );

  it("no answer within USERS_MCP_CONFIRM_TIMEOUT_MS: nothing is written; the upstream deadline does not run meanwhile", {
    tags: ["slow"],
  }, async ({ sandbox, env }) => {
    await withPerson(
      { sandbox, env },
      // The question's timeout outlasts the call's deadline: the deadline must not run while asking.
      { USERS_MCP_CONFIRM_TIMEOUT_MS: "2500", USERS_MCP_TIMEOUT_MS: "1500" },
      () => new Promise(() => {}),
      async (s) => {
        const r = await call(s, "update_compliance", { compliance: { acceptedSms: false } });
        expect(r.isError, text(r)).toBeFalsy();
        expect(out(r)).toMatchObject({ applied: false, confirmation: "timeout" });
        expect(out(r).message).toMatch(/nobody answered the question asking to confirm this change within 3 s/);
        expect(writes(sandbox)).toEqual([]);
      },
    );
    // A person who takes longer than the upstream deadline, then accepts: the write still happens.
    await withPerson(
      { sandbox, env },
      { USERS_MCP_TIMEOUT_MS: "1500" },
      () => new Promise((r) => setTimeout(() => r({ action: "accept", content: { confirm: true } }), 2_500)),
      async (s) => {
        const r = await call(s, "update_compliance", { compliance: { acceptedSms: false } });
        expect(r.isError, text(r)).toBeFalsy();
        expect(out(r)).toMatchObject({ applied: true, confirmation: "accepted" });
      },
    );
  });

  it("never interrupts for a harmless change or a dry run, and a preview token does not skip the question", async ({ sandbox, env }) => {
    await withPerson(
      { sandbox, env },
      {},
      () => ({ action: "decline" }),
      async (s, asked) => {
        const rename = await call(s, "update_gdpr", { userId: GDPR_USER, displayName: "Priya S.", timeZone: "Eastern Standard Time" });
        expect(out(rename)).toMatchObject({ applied: true, confirmation: "not_asked" });
        const grant = await call(s, "update_compliance", { compliance: { acceptedBaa: true, licensedStates: { add: ["CA"] } } });
        expect(out(grant)).toMatchObject({ applied: true, confirmation: "not_asked" });
        const dry = await call(s, "update_user", { userId: LC_USER, role: "user", dryRun: true });
        expect(out(dry)).toMatchObject({ applied: false, dryRun: true, confirmation: "not_asked" });
        expect(asked).toHaveLength(0);
        const withToken = await call(s, "update_user", { userId: LC_USER, role: "user", previewToken: out(dry).previewToken });
        expect(out(withToken)).toMatchObject({ applied: false, confirmation: "declined" });
        expect(asked).toHaveLength(1);
        expect(writes(sandbox)).toEqual(["twosms POST", "leadping PUT"]);
      },
    );
  });

  it("removing entries from a list, disabling a user and a password are sensitive too", async ({ sandbox, env }) => {
    await withPerson(
      { sandbox, env },
      { USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "true" },
      () => ({ action: "decline" }),
      async (s, asked) => {
        await call(s, "update_compliance", { compliance: { licensedStates: { remove: ["OK"] } } });
        await call(s, "update_gdpr", { userId: GDPR_USER, enabled: false });
        await call(s, "update_user", { userId: LC_USER, password: "a-much-better-password" });
        expect(asked.map((a) => a.message.split("?")[0])).toEqual([
          "Remove 1 entry from licensed states for Avery Quinn on Leadping",
          "Disable the user for Priya Shah on 2SMS",
          "Change password for John Deo on LeadConnector",
        ]);
        expect(asked[2]?.message).toContain('password: "(hidden)" → "(changed; not shown)"');
        expect(JSON.stringify(asked)).not.toContain("a-much-better-password");
        expect(writes(sandbox)).toEqual([]);
      },
    );
  });
});

describe("a host that cannot ask", () => {
  it("ask: writes, and the result says no person confirmed it", async ({ audit, env }) => {
    const s = await startServer(confirmEnv(env));
    try {
      const r = await call(s, "update_user", { userId: LC_USER, role: "user" });
      expect(out(r)).toMatchObject({ applied: true, confirmation: "unavailable" });
      expect((out(r).warnings as string[]).join(" ")).toMatch(
        /No person confirmed this change: the MCP host cannot ask \(it did not declare elicitation\)/,
      );
      expect(audit.records()[0]).toMatchObject({ phase: "intent", confirmation: "unavailable" });
    } finally {
      await s.close();
    }
  });

  it("require: sensitive writes are refused naming USERS_MCP_CONFIRM; harmless ones go through", async ({ sandbox, audit, env }) => {
    const s = await startServer(confirmEnv(env, { USERS_MCP_CONFIRM: "require" }));
    try {
      for (const c of SENSITIVE) {
        const r = await call(s, c.tool, c.args);
        expect(r.isError).toBe(true);
        expect(text(r)).toMatch(
          /needs a person's confirmation .*cannot ask one: it did not declare elicitation\. Nothing was written\..*administrator .*USERS_MCP_CONFIRM=ask/s,
        );
      }
      expect(writes(sandbox)).toEqual([]);
      // Each refusal is on record: declined, because nobody could be asked.
      expect(audit.records().map((l) => [l.phase, l.outcome, l.confirmation])).toEqual(
        Array(3).fill(["outcome", "declined", "unavailable"]),
      );
      const harmless = await call(s, "update_user", { userId: LC_USER, firstName: "Jon" });
      expect(out(harmless)).toMatchObject({ applied: true, confirmation: "not_asked" });
    } finally {
      await s.close();
    }
  });
});

describe("USERS_MCP_CONFIRM=off", () => {
  it("never asks, even a host that can", async ({ sandbox, env }) => {
    await withPerson(
      { sandbox, env },
      { USERS_MCP_CONFIRM: "off" },
      () => ({ action: "decline" }),
      async (s, asked) => {
        for (const c of SENSITIVE) expect(out(await call(s, c.tool, c.args))).toMatchObject({ applied: true, confirmation: "not_asked" });
        expect(asked).toHaveLength(0);
        expect(writes(sandbox)).toHaveLength(3);
      },
    );
  });

  it("is refused at start-up when misspelt", async ({ env }) => {
    const s = startServer(env({ USERS_MCP_CONFIRM: "maybe" }));
    await expect(s).rejects.toThrow();
  });
});

describe("secrets stay out of the question and the record", () => {
  it("a permitted PIN change is asked about and audited as [redacted]", async ({ sandbox, audit, env }) => {
    await withPerson(
      { sandbox, env },
      { USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "true" },
      () => ({ action: "accept" }),
      async (s, asked) => {
        const r = await call(s, "update_gdpr", { userId: GDPR_USER, pin: "90817263" });
        expect(out(r)).toMatchObject({ applied: true, confirmation: "accepted" });
        expect(asked).toHaveLength(1);
        const raw = readFileSync(audit.path, "utf8");
        expect(raw).not.toContain("90817263");
        expect(audit.records()[0]).toMatchObject({ changes: [{ field: "pin", before: "[redacted]", after: "[redacted]" }] });
        expect(raw).not.toContain(SANDBOX_CREDENTIALS.twosmsClientSecret);
      },
    );
  });
});

describe("parallel writes over stdio, with a person accepting", () => {
  it("same-record writes on all three tools lose nothing", async ({ sandbox, env }) => {
    await withPerson(
      { sandbox, env },
      {},
      () => ({ action: "accept" }),
      async (s, asked) => {
        const results = await Promise.all([
          call(s, "update_compliance", { compliance: { acceptedSms: false } }),
          call(s, "update_compliance", { compliance: { licensedStates: ["TX", "CA", "NY"] } }),
          call(s, "update_compliance", { compliance: { acceptedBaa: true } }),
          call(s, "update_gdpr", { userId: GDPR_USER, displayName: "Priya S." }),
          call(s, "update_gdpr", { userId: GDPR_USER, timeZone: "Eastern Standard Time" }),
          call(s, "update_user", { userId: LC_USER, scopes: { add: ["users.readonly"] } }),
          call(s, "update_user", { userId: LC_USER, scopes: { add: ["calendars.write"] } }),
        ]);
        for (const r of results) expect(r.isError, text(r)).toBeFalsy();
        expect(sandbox.state.leadping.userFor(SANDBOX_CREDENTIALS.leadpingToken)?.compliance).toMatchObject({
          acceptedSms: false,
          licensedStates: ["TX", "CA", "NY"],
          acceptedBaa: true,
        });
        expect(sandbox.state.twosms.user(GDPR_USER)).toMatchObject({ DisplayName: "Priya S.", TimeZone: "Eastern Standard Time" });
        const lastPut = sandbox.requestsTo("leadconnector", "PUT").at(-1);
        expect(JSON.parse(lastPut?.body ?? "{}").scopes).toEqual(
          expect.arrayContaining(["users.readonly", "calendars.write", "contacts.write"]),
        );
        // The withdrawal, the removal of OK from licensedStates and both scope changes are sensitive;
        // the rename, the time zone and granting the BAA are not.
        expect(asked.map((a) => a.message.split(" for ")[0]).sort()).toEqual([
          "Change scopes",
          "Change scopes",
          "Remove 1 entry from licensed states",
          "Withdraw SMS consent",
        ]);
      },
    );
  });
});

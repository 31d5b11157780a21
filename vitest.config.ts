import { defineConfig } from "vitest/config";

// One suite, two halves. `npm test` runs the fast half (--tags-filter='!slow'), `npm run test:slow` the
// rest (--tags-filter=slow), and `npx vitest run test/foo.test.ts` every test of that file. A test (or a
// describe, or a whole file with a `/** @module-tag slow */` comment at its top) is tagged slow when it
// waits on time by design or needs more than the loopback stand-ins: packaging, endurance, PostgreSQL,
// deadlines and timeouts, shutdown grace periods. Everything else stays fast, so `npm test` remains a
// quick check on a two-core machine.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Builds dist/ when src/ changed since, so spawned servers never run old code.
    globalSetup: ["test/global-setup.ts"],
    tags: [
      {
        name: "slow",
        description: "waits on time by design, or needs more than the loopback stand-ins (npm run test:slow)",
      },
    ],
    // The OpenID provider the OAuth tests sign in against (test/fixtures/oidc.ts) is a test stand-in:
    // its notices about quick-start keys, its in-memory adapter and default functions are true of it
    // and say nothing about this server, so they are kept out of the report.
    onConsoleLog: (log) => !log.startsWith("oidc-provider "),
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // e2e tests spawn the built server; the machine has two cores.
    maxWorkers: 2,
  },
});

import { defineConfig } from "vitest/config";

// `npm run test:browser`: the MCP Apps views in Debian's Chromium (playwright-core), inside a test host
// page built on ext-apps' AppBridge, against the built server over stdio.
export default defineConfig({
  test: {
    include: ["test-browser/**/*.test.ts"],
    // Builds dist/ when src/ changed since, so the server under test never runs old code.
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});

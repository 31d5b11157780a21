import { defineConfig } from "vitest/config";

// `npm run test:cluster`: three replicas of the built server behind HAProxy on loopback.
export default defineConfig({
  test: {
    include: ["test-cluster/**/*.test.ts"],
    // Builds dist/ when src/ changed since, so the servers under test never run old code.
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});

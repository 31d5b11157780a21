import { defineConfig } from "vitest/config";

// `npm run test:hosts`: real MCP hosts fetched from the npm registry, against the built server.
export default defineConfig({
  test: {
    include: ["test-hosts/**/*.test.ts"],
    // Builds dist/ when src/ changed since, so the servers under test never run old code.
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // e2e tests spawn the built server; the machine has two cores.
    maxWorkers: 2,
  },
});

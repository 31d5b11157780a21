import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { staleness } from "./global-setup.js";

// The check the global setup makes before any test runs: dist/ must be newer than what it is built from.

function checkout(): string {
  const root = mkdtempSync(join(tmpdir(), "users-mcp-stale-"));
  mkdirSync(join(root, "src", "tools"), { recursive: true });
  mkdirSync(join(root, "dist"));
  writeFileSync(join(root, "src", "tools", "get-user.ts"), "export {};\n");
  writeFileSync(join(root, "package.json"), "{}\n");
  writeFileSync(join(root, "dist", "index.js"), "\n");
  return root;
}
const at = (root: string, path: string, seconds: number) => utimesSync(join(root, path), seconds, seconds);

describe("stale dist/", () => {
  it("is fresh when built after every source file, and stale naming the file edited since", () => {
    const root = checkout();
    at(root, "src/tools/get-user.ts", 1_000);
    at(root, "package.json", 1_000);
    at(root, "dist/index.js", 2_000);
    expect(staleness(root)).toBeUndefined();
    at(root, "src/tools/get-user.ts", 3_000);
    expect(staleness(root)).toBe("src/tools/get-user.ts changed after dist/ was built");
  });

  it("is stale after a change to what the bundle is made of (dependencies too), or with no build at all", () => {
    const root = checkout();
    at(root, "src/tools/get-user.ts", 1_000);
    at(root, "package.json", 5_000);
    at(root, "dist/index.js", 2_000);
    expect(staleness(root)).toBe("package.json changed after dist/ was built");
    const empty = mkdtempSync(join(tmpdir(), "users-mcp-stale-"));
    expect(staleness(empty)).toBe("dist/index.js does not exist");
  });
});

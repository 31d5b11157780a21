import { readFileSync } from "node:fs";

// package.json sits one level above dist/ (the build, where this module is bundled into dist/index.js
// or a chunk beside it) and two above src/kernel/ (tests): the first one that is this package's is read.
function readVersion(): string {
  for (const up of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "users-mcp" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not here: try the next place
    }
  }
  return "0.0.0";
}

export const VERSION = readVersion();
export const USER_AGENT = `users-mcp/${VERSION}`;

import { readFileSync } from "node:fs";

// package.json sits one level above both src/ (tests) and dist/ (the build), so one path serves both.
function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "0.0.0";
  } catch {
    return "0.0.0";
  }
}

export const VERSION = readVersion();
export const USER_AGENT = `users-mcp/${VERSION}`;

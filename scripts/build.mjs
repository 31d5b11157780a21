// Bundles src/ into dist/ through rolldown's API: the CLI prints a chunk table on every build (in
// tests, the demo, CI and packing) whatever its log level; warnings still reach stderr. Then the
// MCP Apps views into their one HTML document, dist/views/users-mcp.html (scripts/views.mjs).
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { build } from "rolldown";
import config from "../rolldown.config.mjs";
import { viewsDocument } from "./views.mjs";

await build({ ...config, logLevel: "warn" });
// The bin entry must be executable for `npx users-mcp` and for hosts that run dist/index.js directly.
chmodSync(new URL("../dist/index.js", import.meta.url), 0o755);
mkdirSync(new URL("../dist/views/", import.meta.url), { recursive: true });
writeFileSync(new URL("../dist/views/users-mcp.html", import.meta.url), await viewsDocument());

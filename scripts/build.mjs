// Bundles src/ into dist/ through rolldown's API: the CLI prints a chunk table on every build (in
// tests, the demo, CI and packing) whatever its log level; warnings still reach stderr.
import { chmodSync } from "node:fs";
import { build } from "rolldown";
import config from "../rolldown.config.mjs";

await build({ ...config, logLevel: "warn" });
// The bin entry must be executable for `npx users-mcp` and for hosts that run dist/index.js directly.
chmodSync(new URL("../dist/index.js", import.meta.url), 0o755);

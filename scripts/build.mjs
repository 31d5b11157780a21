// Bundles src/ into dist/ through rolldown's API: the CLI prints a chunk table on every build (in
// tests, the demo, CI and packing) whatever its log level; warnings still reach stderr. Then the
// MCP Apps views into their one HTML document, dist/views/users-mcp.html (scripts/views.mjs).
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "rolldown";
import config from "../rolldown.config.mjs";
import { viewsDocument } from "./views.mjs";

const LISTINGS = fileURLToPath(new URL("../src/mcp/listings.ts", import.meta.url));

/**
 * The tools/list entries, computed from the tool definitions as the server would (src/mcp/listings.ts),
 * by a throwaway bundle of that module: the shipped server then answers tools/list from this data
 * without loading the definitions, their schemas or zod's JSON Schema renderer.
 */
async function renderListings() {
  const dir = mkdtempSync(join(tmpdir(), "users-mcp-listings-"));
  try {
    await build({
      ...config,
      input: { listings: LISTINGS },
      logLevel: "warn",
      output: { ...config.output, dir, cleanDir: false },
    });
    const { toolListings } = await import(pathToFileURL(join(dir, "listings.js")).href);
    return await toolListings();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const listings = await renderListings();
await build({
  ...config,
  plugins: [
    ...config.plugins,
    {
      name: "users-mcp:rendered-listings",
      load(id) {
        if (id !== LISTINGS) return null;
        // JSON.parse of a string is the fastest way for V8 to make a large literal.
        return `export async function toolListings() { return JSON.parse(${JSON.stringify(JSON.stringify(listings))}); }`;
      },
    },
  ],
  logLevel: "warn",
});
// The bin entry must be executable for `npx users-mcp` and for hosts that run dist/index.js directly.
chmodSync(new URL("../dist/index.js", import.meta.url), 0o755);
mkdirSync(new URL("../dist/views/", import.meta.url), { recursive: true });
writeFileSync(new URL("../dist/views/users-mcp.html", import.meta.url), await viewsDocument());

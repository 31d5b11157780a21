// The MCP Apps views (src/views/) as one self-contained HTML document: TypeScript bundled for the
// browser by rolldown with ext-apps' App, minified, and inlined with the stylesheet into one page
// that loads nothing from anywhere (its own CSP says so too). `npm run build` writes it to
// dist/views/users-mcp.html; the bench weighs our own part of it (everything but ext-apps and its
// dependencies), which must stay within 60 KB gzipped.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build } from "rolldown";

const src = (p) => new URL(`../src/views/${p}`, import.meta.url);

/** The view's script, minified; `ownOnly` leaves ext-apps and the SDK/zod it brings out (to weigh our part). */
export async function bundleViews({ ownOnly = false } = {}) {
  const out = await build({
    input: src("main.ts").pathname,
    platform: "browser",
    write: false,
    logLevel: "warn",
    external: ownOnly ? [/^@modelcontextprotocol\//, /^zod/] : [],
    output: { format: ownOnly ? "esm" : "iife", minify: true, sourcemap: false },
  });
  return out.output[0].code;
}

// No network of any kind: the document's scripts and styles are inline, and it talks only to its host
// over postMessage. Hosts apply their own CSP from the resource's `_meta.ui.csp` (empty) as well.
const CSP = [
  "default-src 'none'",
  "script-src 'unsafe-inline'",
  "style-src 'unsafe-inline'",
  "img-src data:",
  "font-src data: https:",
  "connect-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/** The whole document. `</script` inside the code is written `<\/script` so the inline script cannot end early. */
export async function viewsDocument() {
  const script = (await bundleViews()).replace(/<\/(script)/gi, "<\\/$1");
  const style = readFileSync(src("views.css"), "utf8").replace(/<\/(style)/gi, "<\\/$1");
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>users-mcp</title>",
    `<style>${style}</style>`,
    "</head>",
    "<body>",
    '<main id="app"></main>',
    `<script>${script}</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

export const gzipped = (text) => gzipSync(Buffer.from(text), { level: 9 }).length;

// Reads the checks.json files the MCP conformance suite wrote under a directory and judges one
// scenario: every check must succeed, except those the suite skips itself (it says why) and those scripts/conformance-na.json names for that
// scenario with the reason they do not apply to this server. Prints the failures; exit 1 on any.
// Usage: node scripts/conformance-checks.mjs <scenario> <results-dir>
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [scenario, dir] = process.argv.slice(2);
const na = JSON.parse(readFileSync(new URL("./conformance-na.json", import.meta.url), "utf8"))[scenario] ?? {};
const files = readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith("checks.json"));
if (!files.length) {
  process.stderr.write(`no checks.json for ${scenario} under ${dir}\n`);
  process.exit(1);
}
let bad = 0;
let skipped = 0;
let ok = 0;
for (const f of files)
  for (const check of JSON.parse(readFileSync(join(dir, String(f)), "utf8"))) {
    if (check.status === "SUCCESS" || check.status === "INFO") ok++;
    else if (check.status === "WARNING") {
      ok++;
      process.stdout.write(`        warning ${check.id}: ${check.errorMessage ?? ""}\n`);
    } else if (check.status === "SKIPPED" || na[check.id]) {
      skipped++;
      if (check.status === "SKIPPED") process.stdout.write(`        skipped by the suite ${check.id}: ${check.errorMessage ?? ""}\n`);
    } else {
      bad++;
      process.stdout.write(`        ${check.status} ${check.id}: ${check.errorMessage ?? check.description ?? ""}\n`);
    }
  }
process.stdout.write(`        ${ok} checks passed, ${skipped} not applicable, ${bad} failed\n`);
process.exit(bad ? 1 : 0);

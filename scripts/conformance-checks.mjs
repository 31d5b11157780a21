// Reads the checks.json files the MCP conformance suite wrote under a directory and judges one
// scenario: every check must succeed, except those the suite skips itself and those
// scripts/conformance-na.json names for that scenario with the reason they do not apply to this server.
// Prints each failure, and each skipped or not applicable check with its reason; exit 1 on any failure.
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
/**
 * Why the suite skipped a check: it gives the reason in errorMessage, or in details.message or
 * details.note; where it gives none, what the check is about (description) and what it saw (details).
 */
function skipReason(check) {
  if (check.errorMessage) return check.errorMessage;
  for (const key of ["message", "note", "reason"]) if (typeof check.details?.[key] === "string") return check.details[key];
  const observed = check.details ? `; what it saw: ${JSON.stringify(check.details)}` : "";
  return `no reason given by the suite (the check: "${check.description ?? check.name ?? check.id}"${observed})`;
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
    } else if (check.status === "SKIPPED") {
      skipped++;
      process.stdout.write(`        skipped by the suite ${check.id}: ${skipReason(check)}\n`);
    } else if (na[check.id]) {
      skipped++;
      process.stdout.write(`        not applicable ${check.id}: ${na[check.id]}\n`);
    } else {
      bad++;
      process.stdout.write(`        ${check.status} ${check.id}: ${check.errorMessage ?? check.description ?? ""}\n`);
    }
  }
process.stdout.write(`        ${ok} checks passed, ${skipped} not applicable, ${bad} failed\n`);
process.exit(bad ? 1 : 0);

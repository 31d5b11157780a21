// stdout carries JSON-RPC: nothing in src/ may write there except lines marked `allow-stdout`
// (the --help, --version and doctor outputs, which are not the MCP server).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const offenders = [];
function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walk(p);
    else if (p.endsWith(".ts")) {
      readFileSync(p, "utf8")
        .split("\n")
        .forEach((line, i, all) => {
          if (!/console\.(log|info|debug|table|dir)\(|process\.stdout\.write/.test(line)) return;
          if (/allow-stdout/.test(line) || /allow-stdout/.test(all[i - 1] ?? "")) return;
          offenders.push(`${p}:${i + 1}: ${line.trim()}`);
        });
    }
  }
}
walk(new URL("../src", import.meta.url).pathname);
if (offenders.length) {
  process.stderr.write(`stdout is reserved for JSON-RPC; found writes to it in src/:\n${offenders.join("\n")}\n`);
  process.exit(1);
}

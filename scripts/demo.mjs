// `npm run demo`: starts the server in sandbox mode the way an MCP host would (stdio, the SDK's
// client), lists the tools, calls each one, and prints what an agent would see. No account needed.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const entry = join(root, "dist", "index.js");

function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}
if (!existsSync(entry) || statSync(entry).mtimeMs < newestSource(join(root, "src"))) {
  console.log("Building first (npm run build)…");
  execFileSync(process.platform === "win32" ? "npm.cmd" : "npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
}

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const indent = (s) => s.replace(/^/gm, "    ");

const transport = new StdioClientTransport({
  command: process.execPath,
  args: [entry, "--sandbox"],
  env: { PATH: process.env.PATH ?? "", USERS_MCP_LOG_LEVEL: "error" },
  stderr: "inherit",
});
const client = new Client({ name: "users-mcp-demo", version: "1.0.0" });
await client.connect(transport);
const info = client.getServerVersion();
console.log(bold(`Connected to ${info?.name} ${info?.version} over stdio, in sandbox mode (demo data; nothing real is touched).\n`));

const { tools } = await client.listTools();
console.log(bold("tools/list"));
for (const t of tools) {
  const a = t.annotations ?? {};
  const flags = [a.readOnlyHint ? "read-only" : "writes", a.destructiveHint ? "destructive" : null, a.idempotentHint ? "idempotent" : null]
    .filter(Boolean)
    .join(", ");
  console.log(`  ${t.name.padEnd(18)} ${dim(`(${flags})`)} ${t.title ?? ""}`);
}

const steps = [
  ["Read the current Leadping user", "get_current_user", {}],
  [
    "Preview withdrawing SMS consent (dry run: nothing is written)",
    "update_compliance",
    { compliance: { acceptedSms: false }, dryRun: true },
  ],
  [
    "Add a licensed state (the merge keeps every other field)",
    "update_compliance",
    { compliance: { licensedStates: ["TX", "OK", "ca"] }, source: "demo" },
  ],
  ["An invalid state code is refused before anything is sent", "update_compliance", { compliance: { licensedStates: ["ZZ"] } }],
  ["Rename a LeadConnector user", "update_user", { userId: "0IHuJvc2ofPAAA8GzTRi", firstName: "Jonathan" }],
  ["Email changes are refused, with the reason", "update_user", { userId: "0IHuJvc2ofPAAA8GzTRi", email: "new@example.com" }],
  [
    "Update a 2SMS user's time zone (OAuth token, read, merge, post)",
    "update_gdpr",
    { userId: "c8e4ae5d-ebc0-4f08-a0a0-05399413bb43", timeZone: "W. Europe Standard Time" },
  ],
];

let failures = 0;
for (const [title, name, args] of steps) {
  console.log(`\n${bold(title)}\n  ${dim(`${name} ${JSON.stringify(args)}`)}`);
  const result = await client.callTool({ name, arguments: args });
  const text = result.content?.[0]?.text ?? "";
  if (result.isError) {
    console.log(`  → error result (as expected for this step):\n${indent(text)}`);
  } else {
    const s = result.structuredContent ?? {};
    if (name === "get_current_user") {
      console.log(`  → ${s.name} <${s.email}>, roles ${JSON.stringify(s.roles)}; compliance: ${JSON.stringify(s.compliance)}`);
    } else {
      console.log(`  → ${s.message}`);
      for (const c of s.changed ?? []) console.log(`     ${c.field}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`);
      for (const w of s.warnings ?? []) console.log(`     warning: ${w}`);
    }
  }
  const expectError = /refused/.test(title);
  if (Boolean(result.isError) !== expectError) failures += 1;
}

await client.close();
console.log(failures ? `\nDemo finished with ${failures} unexpected result(s).` : "\nDemo finished: every tool answered as expected.");
process.exitCode = failures ? 1 : 0;

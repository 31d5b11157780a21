// `npm run demo`: starts the server in sandbox mode the way an MCP host would (stdio, the SDK's
// client), lists the tools, calls every one of them (writes, their audit log and an undo included), and
// prints what an agent would see. No account needed.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

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

// The demo's writes go to an audit log of its own, shown at the end and then removed.
const auditDir = mkdtempSync(join(tmpdir(), "users-mcp-demo-"));
const env = { PATH: process.env.PATH ?? "", USERS_MCP_LOG_LEVEL: "error", USERS_MCP_AUDIT_LOG: join(auditDir, "audit.jsonl") };
const transport = new StdioClientTransport({ command: process.execPath, args: [entry, "--sandbox"], env, stderr: "inherit" });
// A host that can ask its person (as Claude Code and VS Code can): the demo shows the question and accepts.
const client = new Client({ name: "users-mcp-demo", version: "1.0.0" }, { capabilities: { elicitation: { form: {} } } });
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  console.log(
    `  ${bold("? the host asks its person:")}\n${indent(indent(request.params.message))}\n    ${dim("(the demo answers: Accept)")}`,
  );
  return { action: "accept", content: { confirm: true } };
});
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

let previewToken;
/** The auditId of each write tool's latest applied write, for the undo steps. */
const written = {};
const steps = [
  ["Read the current Leadping user", "get_current_user", {}],
  [
    "Preview withdrawing SMS consent (dry run: nothing is written, a previewToken comes back)",
    "update_compliance",
    { compliance: { acceptedSms: false }, dryRun: true },
  ],
  [
    "Write exactly the previewed change with its previewToken (a withdrawal: the person is asked first)",
    "update_compliance",
    () => ({ compliance: { acceptedSms: false }, previewToken }),
  ],
  [
    "Add a licensed state without restating the list (the merge keeps every other field)",
    "update_compliance",
    { compliance: { licensedStates: { add: ["ca"] } }, source: "demo" },
  ],
  ["An invalid state code is refused before anything is sent", "update_compliance", { compliance: { licensedStates: { add: ["ZZ"] } } }],
  ["Find a LeadConnector user by name (search_users)", "search_users", { query: "john" }],
  ["Read that user before changing them", "get_user", { userId: "0IHuJvc2ofPAAA8GzTRi" }],
  ["Rename a LeadConnector user", "update_user", { userId: "0IHuJvc2ofPAAA8GzTRi", firstName: "Jonathan" }],
  ["Email changes are refused, with the reason", "update_user", { userId: "0IHuJvc2ofPAAA8GzTRi", email: "new@example.com" }],
  [
    "Read a 2SMS user and their GDPR state (never the password or PIN)",
    "get_gdpr_user",
    { userId: "c8e4ae5d-ebc0-4f08-a0a0-05399413bb43" },
  ],
  [
    "Update a 2SMS user's time zone (OAuth token, read, merge, post)",
    "update_gdpr",
    { userId: "c8e4ae5d-ebc0-4f08-a0a0-05399413bb43", timeZone: "W. Europe Standard Time" },
  ],
  ["List the writes made so far, newest first, each field before and after (list_writes)", "list_writes", { limit: 5 }],
  [
    "Undo the rename by its auditId (revert_write: the same write path, read, merge, audit)",
    "revert_write",
    () => ({ auditId: written.update_user }),
  ],
  ["Undoing the same write again writes nothing, and says so", "revert_write", () => ({ auditId: written.update_user })],
];

let failures = 0;
for (const [title, name, argsOrFn] of steps) {
  const args = typeof argsOrFn === "function" ? argsOrFn() : argsOrFn;
  console.log(`\n${bold(title)}\n  ${dim(`${name} ${JSON.stringify(args)}`)}`);
  const result = await client.callTool({ name, arguments: args });
  const text = result.content?.[0]?.text ?? "";
  if (result.isError) {
    console.log(`  → error result (as expected for this step):\n${indent(text)}`);
  } else {
    const s = result.structuredContent ?? {};
    if (name === "get_current_user") {
      console.log(`  → ${s.name} <${s.email}>, roles ${JSON.stringify(s.roles)}; compliance: ${JSON.stringify(s.compliance)}`);
    } else if (name === "search_users") {
      console.log(`  → ${s.count} match(es): ${s.users.map((u) => `${u.name} (${u.id}, ${u.role})`).join("; ")}`);
    } else if (name === "get_user") {
      console.log(
        `  → ${s.name} <${s.email}>, ${s.roles?.role} of ${s.roles?.locationIds?.length} sub-account(s), scopes ${JSON.stringify(s.scopes)}`,
      );
    } else if (name === "get_gdpr_user") {
      console.log(`  → ${s.user.displayName} <${s.user.emailAddress}>; GDPR: ${JSON.stringify(s.gdpr)}`);
    } else if (name === "list_writes") {
      console.log(`  → ${s.count} write(s):`);
      for (const w of s.writes) {
        const fields = (w.changes ?? []).map((c) => c.field).join(", ") || "-";
        console.log(`     ${w.auditId}  ${w.tool.padEnd(17)} ${w.outcome.padEnd(9)} ${fields}`);
      }
    } else {
      if (s.applied && s.auditId && !written[name]) written[name] = s.auditId;
      console.log(`  → ${s.message}`);
      if (s.previewToken) previewToken = s.previewToken;
      if (s.confirmation && s.confirmation !== "not_asked") console.log(`     confirmation: ${s.confirmation}`);
      for (const c of s.changed ?? []) console.log(`     ${c.field}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`);
      if (s.previewToken) console.log(`     previewToken: ${s.previewToken.slice(0, 24)}…`);
      for (const w of s.warnings ?? []) console.log(`     warning: ${w}`);
    }
  }
  const expectError = /refused/.test(title);
  if (Boolean(result.isError) !== expectError) failures += 1;
}

await client.close();

console.log(`\n${bold("The audit log of these writes")}\n  ${dim("users-mcp audit")}`);
console.log(indent(execFileSync(process.execPath, [entry, "audit"], { env, encoding: "utf8" })));
rmSync(auditDir, { recursive: true, force: true });

console.log(failures ? `\nDemo finished with ${failures} unexpected result(s).` : "\nDemo finished: every tool answered as expected.");
process.exitCode = failures ? 1 : 0;

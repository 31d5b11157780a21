// `npm run pack:mcpb`: the MCP Bundle (users-mcp-<version>.mcpb) for one-click installs in Claude
// Desktop, built with the official MCPB CLI from a staging folder that holds only what the server
// needs at run time: the manifest, the bundled dist/ (dependencies included), a package.json that
// says the files are ES modules and carries the version, and the licence. No node_modules, no sources.
//   node scripts/pack-mcpb.mjs [--out DIR] [--server-json]   (needs a build: npm run pack:mcpb builds first)
// --server-json writes the bundle's SHA-256 and download URL into server.json's mcpb package: the
// CLI stamps each archive with the time it was made, so the hash is of this very file, which is the
// one to upload as the release asset.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const outFlag = process.argv.indexOf("--out");
const outDir = resolve(outFlag > 0 ? (process.argv[outFlag + 1] ?? ".") : root);
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const manifest = JSON.parse(readFileSync(join(root, "mcpb", "manifest.json"), "utf8"));

if (manifest.version !== pkg.version) {
  process.stderr.write(`mcpb/manifest.json says version ${manifest.version}, package.json ${pkg.version}: make them equal.\n`);
  process.exit(1);
}
if (!existsSync(join(root, "dist", "index.js"))) {
  process.stderr.write("dist/ is missing: run npm run build first (npm run pack:mcpb does).\n");
  process.exit(1);
}

const stage = mkdtempSync(join(tmpdir(), "users-mcp-mcpb-"));
try {
  cpSync(join(root, "mcpb", "manifest.json"), join(stage, "manifest.json"));
  cpSync(join(root, "dist"), join(stage, "dist"), { recursive: true });
  cpSync(join(root, "LICENSE"), join(stage, "LICENSE"));
  writeFileSync(
    join(stage, "package.json"),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, type: "module", private: true, license: pkg.license }, null, 2)}\n`,
  );
  const mcpb = join(root, "node_modules", "@anthropic-ai", "mcpb", "dist", "cli", "cli.js");
  execFileSync(process.execPath, [mcpb, "validate", join(stage, "manifest.json")], { stdio: ["ignore", "ignore", "inherit"] });
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${pkg.name}-${pkg.version}.mcpb`);
  execFileSync(process.execPath, [mcpb, "pack", stage, file], { stdio: ["ignore", "ignore", "inherit"] });
  const sha = createHash("sha256").update(readFileSync(file)).digest("hex");
  process.stdout.write(`${file}\nsha256 ${sha}\n`);
  if (process.argv.includes("--server-json")) {
    const path = join(root, "server.json");
    const server = JSON.parse(readFileSync(path, "utf8"));
    const entry = server.packages.find((p) => p.registryType === "mcpb");
    entry.version = pkg.version;
    entry.identifier = `https://github.com/users-mcp/users-mcp/releases/download/v${pkg.version}/${pkg.name}-${pkg.version}.mcpb`;
    entry.fileSha256 = sha;
    writeFileSync(path, `${JSON.stringify(server, null, 2)}\n`);
    process.stdout.write("server.json: mcpb package updated\n");
  }
} finally {
  rmSync(stage, { recursive: true, force: true });
}

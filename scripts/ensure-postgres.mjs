// The suite's PostgreSQL tests need Debian's PostgreSQL server binaries: installed from Debian's
// packages when they are missing (`apt-get install -y postgresql`). The tests start their own cluster
// in a temp directory (scripts/postgres.mjs); nothing here starts or configures a system service.
import { execFileSync } from "node:child_process";
import { postgresBin } from "./postgres.mjs";

if (!postgresBin()) {
  process.stderr.write("PostgreSQL is not installed: installing it from Debian's packages (apt-get install -y postgresql)...\n");
  const root = process.getuid?.() === 0;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args) =>
    execFileSync(root ? args[0] : "sudo", root ? args.slice(1) : ["-E", ...args], { stdio: ["ignore", "ignore", "inherit"], env });
  try {
    run(["apt-get", "update"]);
    run(["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]);
  } catch (err) {
    process.stderr.write(`Could not install PostgreSQL (${err.message}). Install it (apt-get install postgresql) and run again.\n`);
    process.exit(1);
  }
  if (!postgresBin()) {
    process.stderr.write("PostgreSQL's server binaries are still missing after installing it.\n");
    process.exit(1);
  }
}
process.stderr.write(`PostgreSQL server binaries: ${postgresBin()}\n`);

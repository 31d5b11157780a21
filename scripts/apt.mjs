// Installs a Debian package for a test leg when what it provides is missing: apt-get as root, else
// through sudo. Exits the process with a message saying what to install when it cannot.
import { execFileSync } from "node:child_process";

export function ensureDebianPackage(name, present, why) {
  if (present()) return;
  process.stderr.write(`${why} is not installed: installing it from Debian's packages (apt-get install -y ${name})...\n`);
  const root = process.getuid?.() === 0;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args) =>
    execFileSync(root ? args[0] : "sudo", root ? args.slice(1) : ["-E", ...args], { stdio: ["ignore", "ignore", "inherit"], env });
  try {
    run(["apt-get", "update"]);
    run(["apt-get", "install", "-y", "--no-install-recommends", name]);
  } catch (err) {
    process.stderr.write(`Could not install ${why} (${err.message}). Install it (apt-get install ${name}) and run again.\n`);
    process.exit(1);
  }
  if (!present()) {
    process.stderr.write(`${why} is still missing after installing ${name}.\n`);
    process.exit(1);
  }
}

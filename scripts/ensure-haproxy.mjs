// `npm run test:cluster` needs HAProxy: installed from Debian's packages when it is missing.
import { execFileSync, spawnSync } from "node:child_process";

// Debian installs it in /usr/sbin, which a non-root PATH may lack; the cluster test looks there too.
const PATH = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;
const has = () => spawnSync("haproxy", ["-v"], { stdio: "ignore", env: { ...process.env, PATH } }).status === 0;
if (!has()) {
  process.stderr.write("HAProxy is not installed: installing it from Debian's packages (apt-get install -y haproxy)...\n");
  const root = process.getuid?.() === 0;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args) =>
    execFileSync(root ? args[0] : "sudo", root ? args.slice(1) : ["-E", ...args], { stdio: ["ignore", "ignore", "inherit"], env });
  try {
    run(["apt-get", "update"]);
    run(["apt-get", "install", "-y", "haproxy"]);
  } catch (err) {
    process.stderr.write(`Could not install HAProxy (${err.message}). Install it (apt-get install haproxy) and run again.\n`);
    process.exit(1);
  }
  if (!has()) {
    process.stderr.write("HAProxy still cannot be run after installing it.\n");
    process.exit(1);
  }
}
process.stderr.write(`${execFileSync("haproxy", ["-v"], { encoding: "utf8", env: { ...process.env, PATH } }).split("\n")[0]}\n`);

// `npm run test:cluster` needs HAProxy: installed from Debian's packages when it is missing.
import { execFileSync, spawnSync } from "node:child_process";
import { ensureDebianPackage } from "./apt.mjs";

// Debian installs it in /usr/sbin, which a non-root PATH may lack; the cluster test looks there too.
const PATH = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;
const has = () => spawnSync("haproxy", ["-v"], { stdio: "ignore", env: { ...process.env, PATH } }).status === 0;
ensureDebianPackage("haproxy", has, "HAProxy");
process.stderr.write(`${execFileSync("haproxy", ["-v"], { encoding: "utf8", env: { ...process.env, PATH } }).split("\n")[0]}\n`);

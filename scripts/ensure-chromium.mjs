// `npm run test:browser` drives Debian's Chromium (no browser download at run time): installed from
// Debian's packages when it is missing. Prints the path the browser tests launch.
import { spawnSync } from "node:child_process";
import { ensureDebianPackage } from "./apt.mjs";

export const CHROMIUM = process.env.USERS_MCP_CHROMIUM ?? "/usr/bin/chromium";
const has = () => spawnSync(CHROMIUM, ["--version"], { stdio: "ignore" }).status === 0;
ensureDebianPackage("chromium", has, "Chromium");
process.stderr.write(`${spawnSync(CHROMIUM, ["--version"], { encoding: "utf8" }).stdout.trim()}\n`);

import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

// Tests that spawn the server run the built dist/, so a suite started after an edit (`npx vitest run`
// without `npm run build`) would test old code and pass on it. Before any test runs, dist/ is compared
// with everything it is built from; when it is missing or older, it is bundled again (rolldown, about a
// second; `npm run build` also type-checks). A build that fails stops the run with its error.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const INPUTS = [
  "src",
  "package.json",
  "package-lock.json",
  "rolldown.config.mjs",
  "scripts/build.mjs",
  "scripts/views.mjs",
  "node_modules/.package-lock.json",
];

/** The newest modification time under `path` (a file or a folder), and the file that has it. */
function newest(path: string): { time: number; file: string } {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    return { time: 0, file: path };
  }
  if (!st.isDirectory()) return { time: st.mtimeMs, file: path };
  let best = { time: 0, file: path };
  for (const name of readdirSync(path)) {
    const found = newest(join(path, name));
    if (found.time > best.time) best = found;
  }
  return best;
}

/** Why dist/ cannot be trusted, or undefined when it is newer than everything it is built from. */
export function staleness(root = ROOT): string | undefined {
  let built: number;
  try {
    built = statSync(join(root, "dist", "index.js")).mtimeMs;
  } catch {
    return "dist/index.js does not exist";
  }
  let source = { time: 0, file: "" };
  for (const input of INPUTS) {
    const found = newest(join(root, input));
    if (found.time > source.time) source = found;
  }
  return source.time > built ? `${relative(root, source.file)} changed after dist/ was built` : undefined;
}

export default function setup(): void {
  const why = staleness();
  if (!why) return;
  process.stderr.write(`dist/ is stale (${why}): bundling it again before the tests run.\n`);
  const build = spawnSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  if (build.status !== 0) throw new Error(`the build failed (exit ${build.status}), so the tests would run old code: fix it and run again`);
  const still = staleness();
  if (still) throw new Error(`dist/ is still stale after building (${still}); refusing to test old code`);
}

// The one-tool floors, bundled as a careful server ships: the fixtures in bench/fixtures/ built with
// rolldown (the bundler of this server's own build), ESM for Node, everything but node: built-ins
// inside, into bench/build/. bench/run.mjs and bench/instructions.mjs measure these files, not the
// fixtures themselves: an unbundled floor reads hundreds of files at start-up, which no server that
// cares about its start ships, and would flatter the ratio.
import { fileURLToPath } from "node:url";
import { build } from "rolldown";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

/** The bundled floors, by name: (b) SDK 1.x, (b2) the v2 line, and the 1.x stateless HTTP server. */
export const FLOORS = {
  sdk: here("./build/sdk-one-tool.mjs"),
  sdk2: here("./build/sdk2-one-tool.mjs"),
  sdkHttp: here("./build/sdk-http-one-tool.mjs"),
};

/** Bundles every floor (a few seconds); each lands in one file, with no code splitting. */
export async function buildFloors() {
  for (const name of ["sdk-one-tool", "sdk2-one-tool", "sdk-http-one-tool"])
    await build({
      input: here(`./fixtures/${name}.mjs`),
      platform: "node",
      external: [/^node:/],
      logLevel: "silent",
      output: { file: here(`./build/${name}.mjs`), format: "esm", codeSplitting: false, sourcemap: false },
    });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildFloors();

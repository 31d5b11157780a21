// The shipped build: src/ bundled into dist/ with its dependencies, so that start-up reads a few
// files instead of some hundreds (see README "Performance"). Modules that only a first tool call
// needs stay in chunks loaded on demand. `npm run typecheck` checks the types; this only bundles.
import { fileURLToPath } from "node:url";
import { defineConfig } from "rolldown";

const AJV_STUB = fileURLToPath(new URL("./src/mcp/lazy-validator.ts", import.meta.url));

export default defineConfig({
  input: { index: "src/cli/main.ts", "sandbox/index": "src/sandbox/index.ts" },
  platform: "node",
  external: [/^node:/],
  plugins: [
    {
      // The SDK's runtime shim module loads Ajv (with its formats and URI parser) as the default
      // validator of elicitation replies. The server passes a validator that loads the real Ajv
      // provider when the first confirmation is asked (src/mcp/lazy-validator.ts), so the shim is
      // replaced by one without Ajv, and Ajv is not on the start-up path.
      name: "users-mcp:no-ajv",
      resolveId(source) {
        if (source === "@modelcontextprotocol/server/_shims") return AJV_STUB;
        return null;
      },
    },
  ],
  output: {
    dir: "dist",
    format: "esm",
    entryFileNames: "[name].js",
    chunkFileNames: "chunks/[name]-[hash].js",
    sourcemap: false,
    cleanDir: true,
    codeSplitting: {
      groups: [
        {
          // The start-up path in one chunk beside the entry: the SDK's server (without its Ajv
          // validator, which loads with the first confirmation) and what answers initialize,
          // server/discover and tools/list. The call path, the state, the clients load on first use.
          name: "serve",
          test: (id) =>
            (/node_modules[\\/]@modelcontextprotocol[\\/](server|core)[\\/]/.test(id) && !/validators|ajv/.test(id)) ||
            /src[\\/](transport[\\/]stdio|mcp[\\/](server|runtime|reserved-keys|lazy-validator|listings|envelope|views)|kernel[\\/](gauge|redact))\.ts$/.test(
              id,
            ),
        },
      ],
    },
  },
});

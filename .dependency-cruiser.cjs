// The dependency rules `npm run lint` checks (dependency-cruiser): no import cycles in src/, and the
// layers only import downwards. README "How it is built" explains the layers:
//
//   cli -> transport -> mcp -> tools -> writes -> audit -> client -> sandbox, settings -> kernel
//
// (the sandbox is a stand-in for the upstreams: only the CLI starts it, and it uses settings and kernel).
const LAYERS = ["cli", "transport", "mcp", "tools", "writes", "audit", "client", "sandbox", "settings", "kernel"];
const above = (layer) => LAYERS.slice(0, LAYERS.indexOf(layer));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "sdk-v2-only",
      severity: "error",
      comment:
        "The server is built on the SDK's v2 line (@modelcontextprotocol/server); the 1.x package is for tests that prove old clients work.",
      from: { path: "^src" },
      to: { path: "@modelcontextprotocol/sdk" },
    },
    {
      name: "no-circular",
      severity: "error",
      comment: "An import cycle: two modules that need each other cannot be understood, tested or moved alone.",
      from: { path: "^src" },
      to: { circular: true },
    },
    ...LAYERS.filter((l) => above(l).length).map((layer) => ({
      name: `${layer}-imports-only-downwards`,
      severity: "error",
      comment: `src/${layer}/ may import only the layers below it, never ${above(layer).join(", ")}.`,
      from: { path: `^src/${layer}/` },
      to: { path: `^src/(${above(layer).join("|")})/` },
    })),
    {
      name: "sandbox-is-no-layer-of-the-server",
      severity: "error",
      comment: "Only the CLI starts the sandbox; nothing of the server's path imports it.",
      from: { path: "^src/(transport|mcp|tools|writes|audit|client)/" },
      to: { path: "^src/sandbox/" },
    },
    {
      name: "only-the-client-speaks-http-upstream",
      severity: "error",
      comment: "Tools and the pipeline never import undici: the clients are the only upstream I/O.",
      from: { path: "^src/(mcp|tools|writes|audit)/" },
      to: { path: "undici" },
    },
    {
      name: "below-the-server-knows-no-mcp",
      severity: "error",
      comment: "Tools, the pipeline, the audit store and the clients never import MCP types.",
      from: { path: "^src/(tools|writes|audit|client|settings|kernel)/" },
      to: { path: "@modelcontextprotocol" },
    },
    {
      name: "everything-in-a-room",
      severity: "error",
      comment: "Every module of src/ lives in one of the layers' folders.",
      from: { path: "^src/[^/]+$" },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};

// The dependency rules `npm run lint` checks (dependency-cruiser): no import cycles in src/, and the
// layers only import downwards. README "How it is built" explains the layers.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "An import cycle: two modules that need each other cannot be understood, tested or moved alone.",
      from: { path: "^src" },
      to: { circular: true },
    },
    {
      name: "clients-know-no-mcp",
      severity: "error",
      comment: "The upstream clients are the only upstream I/O and know nothing of MCP, tools or the write pipeline.",
      from: { path: "^src/client/" },
      to: { path: "^src/(tools|writes|server|http|index|tenants|doctor|audit)|@modelcontextprotocol" },
    },
    {
      name: "pipeline-knows-no-tool",
      severity: "error",
      comment: "The write pipeline knows nothing of any one tool or platform; tools build on it, not the other way.",
      from: { path: "^src/writes/" },
      to: { path: "^src/(tools|server|http|index|sandbox)|^src/client/(leadping|leadconnector|twosms)" },
    },
    {
      name: "tools-use-no-transport",
      severity: "error",
      comment: "Tools never import undici, the MCP server, or a transport.",
      from: { path: "^src/tools/" },
      to: { path: "^src/(server|http|index)|undici|@modelcontextprotocol" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};

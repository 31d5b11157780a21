// The bin entry must be executable for `npx users-mcp` and for hosts that run dist/index.js directly.
import { chmodSync } from "node:fs";

chmodSync(new URL("../dist/index.js", import.meta.url), 0o755);

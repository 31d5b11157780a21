import type { Config } from "../settings/config.js";

/**
 * With --sandbox, starts the built-in stand-in for the three upstreams and points the configuration at
 * it; otherwise leaves the configuration as it is. The one place every command starts the sandbox.
 */
export async function withSandbox(config: Config): Promise<{ config: Config; sandboxUrl?: string; close(): Promise<void> }> {
  if (!config.sandbox) return { config, close: async () => {} };
  const { startSandbox, sandboxConfig } = await import("../sandbox/index.js");
  const sandbox = await startSandbox();
  return { config: sandboxConfig(config, sandbox), sandboxUrl: sandbox.url, close: () => sandbox.close() };
}

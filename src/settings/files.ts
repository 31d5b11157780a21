import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { parse as parseEnvFile } from "dotenv";
import { ENV_VARS } from "./config.js";

/**
 * Where the settings come from. Only places the user chose are read: the real environment (what the
 * MCP host passes), an env file named with `--settings` or `USERS_MCP_ENV_FILE`, or the user's own
 * `$XDG_CONFIG_HOME/users-mcp/.env`. Never the working directory's `.env`: hosts start project-scoped
 * servers inside whatever repository is open, and a `.env` there, written by whoever wrote the
 * repository, could point a base URL at another server (and so receive the user's token) or switch
 * off a safety. Real environment variables win over any file.
 */
export interface ResolvedSettings {
  /** The environment to configure from: the file's values under the real environment's. */
  env: Record<string, string | undefined>;
  /** Where each variable that is set came from: "environment", or the path of the file. */
  sources: Record<string, string>;
  /** The env file read, if any. */
  file: string | undefined;
  /** Things to tell the user once on stderr (no secret in them). */
  notices: Array<{ level: "info" | "warn"; message: string }>;
}

export class SettingsError extends Error {
  override name = "SettingsError";
}

export interface SettingsInput {
  /** `--settings PATH`, when given. */
  settingsFlag?: string | undefined;
  env: NodeJS.ProcessEnv;
  cwd?: string;
  home?: string;
  platform?: NodeJS.Platform;
}

/** The user's own settings file: `$XDG_CONFIG_HOME/users-mcp/.env`, else `~/.config/users-mcp/.env`. */
export function userEnvFile(env: NodeJS.ProcessEnv, home = homedir()): string {
  const xdg = env.XDG_CONFIG_HOME?.trim();
  const base = xdg && isAbsolute(xdg) ? xdg : join(home, ".config");
  return join(base, "users-mcp", ".env");
}

export function resolveSettings(input: SettingsInput): ResolvedSettings {
  const cwd = input.cwd ?? process.cwd();
  const env = input.env;
  const notices: ResolvedSettings["notices"] = [];
  const explicit = input.settingsFlag ?? (env.USERS_MCP_ENV_FILE?.trim() || undefined);
  const via = input.settingsFlag !== undefined ? "--settings" : "USERS_MCP_ENV_FILE";

  let file: string | undefined;
  let text: string | undefined;
  if (explicit !== undefined) {
    file = resolve(cwd, explicit);
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === "ENOENT"
          ? "no such file"
          : code === "EACCES"
            ? "permission denied"
            : code === "EISDIR"
              ? "it is a directory"
              : (code ?? String(err));
      throw new SettingsError(
        `cannot read the env file named by ${via} (${file}): ${why}. Fix the path, or remove ${via} to use only the environment.`,
      );
    }
  } else {
    const own = userEnvFile(env, input.home);
    try {
      text = readFileSync(own, "utf8");
      file = own;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A missing file is the usual case; one that exists but cannot be read is worth a word.
      if (code !== "ENOENT" && code !== "ENOTDIR")
        notices.push({ level: "warn", message: `could not read ${own} (${code ?? "error"}); continuing with the environment only` });
    }
  }

  // dotenv's parser only parses; its loader (`config()`) would print to stdout and write process.env.
  const fromFile: Record<string, string> = text !== undefined ? parseEnvFile(text) : {};
  const sources: Record<string, string> = {};
  const merged: Record<string, string | undefined> = { ...env };
  const known = new Set(ENV_VARS.map((v) => v.name));
  for (const [name, value] of Object.entries(fromFile)) {
    if (!known.has(name) || name === "USERS_MCP_ENV_FILE") continue;
    if (env[name] !== undefined) continue; // the real environment wins
    merged[name] = value;
    sources[name] = file as string;
  }
  for (const name of known) if (env[name] !== undefined && sources[name] === undefined) sources[name] = "environment";

  if (file !== undefined && (input.platform ?? process.platform) !== "win32") {
    const secretsInFile = ENV_VARS.filter((v) => v.secret && (fromFile[v.name] ?? "").trim() !== "").map((v) => v.name);
    if (secretsInFile.length) {
      let mode: number | undefined;
      try {
        mode = statSync(file).mode & 0o777;
      } catch {
        mode = undefined;
      }
      if (mode !== undefined && (mode & 0o044) !== 0)
        notices.push({
          level: "warn",
          message: `${file} holds ${secretsInFile.join(", ")} and is readable by group or others (mode ${mode.toString(8).padStart(4, "0")}): run chmod 600 ${file}`,
        });
    }
  }

  const local = resolve(cwd, ".env");
  if (file !== local && existsFile(local))
    notices.push({
      level: "info",
      message: `not loading ${local}: settings come only from the environment, --settings or USERS_MCP_ENV_FILE, and ${userEnvFile(env, input.home)}. If you trust that file, start with --settings .env`,
    });

  return { env: merged, sources, file, notices };
}

function existsFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

import { redact } from "./redact.js";

/** How much goes to stderr, least first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Logs go to stderr only: stdout carries JSON-RPC. Each line is redacted on the way out,
 * so a secret that slipped into a message or a field never reaches the terminal or a host's log file.
 */
export function createLogger(level: LogLevel, write: (line: string) => void = defaultWrite): Logger {
  const at = ORDER[level];
  const emit = (lvl: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] > at) return;
    const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : "";
    write(redact(`users-mcp ${lvl}: ${message}${extra}`.replace(/[\r\n]+/g, " ")));
  };
  return {
    error: (m, f) => emit("error", m, f),
    warn: (m, f) => emit("warn", m, f),
    info: (m, f) => emit("info", m, f),
    debug: (m, f) => emit("debug", m, f),
  };
}

function defaultWrite(line: string): void {
  process.stderr.write(`${line}\n`);
}

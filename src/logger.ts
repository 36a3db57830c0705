/**
 * A small pluggable logger. Console by default; replace it with {@linkcode setLogger}.
 *
 * @module
 */

/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** What Switchboard logs through. Any object with these four methods will do. */
export interface Logger {
  /** Fine-grained events such as each received or sent frame. */
  debug(message: string, fields?: LogFields): void;
  /** Normal but noteworthy events. */
  info(message: string, fields?: LogFields): void;
  /** Something was dropped or refused; the process goes on. */
  warn(message: string, fields?: LogFields): void;
  /** A failure; `fields.error` carries the Error with its stack. */
  error(message: string, fields?: LogFields): void;
}

/** A log level name; `silent` logs nothing. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Creates a logger writing to the console at `level` and above (default `info`). */
export function consoleLogger(level: LogLevel = "info"): Logger {
  const min = LEVELS[level];
  const at =
    (lvl: Exclude<LogLevel, "silent">, write: (...a: unknown[]) => void) =>
    (message: string, fields?: LogFields) => {
      if (LEVELS[lvl] < min) return;
      if (fields && Object.keys(fields).length) write(`[switchboard] ${lvl}: ${message}`, fields);
      else write(`[switchboard] ${lvl}: ${message}`);
    };
  return {
    debug: at("debug", console.debug),
    info: at("info", console.info),
    warn: at("warn", console.warn),
    error: at("error", console.error),
  };
}

/** A logger that keeps every line in `lines`, for tests. */
export interface MemoryLogger extends Logger {
  /** Every line logged so far. */
  readonly lines: Array<
    { level: Exclude<LogLevel, "silent">; message: string; fields?: LogFields }
  >;
}

/** Creates a {@linkcode MemoryLogger}. */
export function memoryLogger(): MemoryLogger {
  const lines: MemoryLogger["lines"] = [];
  const at = (level: Exclude<LogLevel, "silent">) => (message: string, fields?: LogFields) => {
    lines.push({ level, message, fields });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

function envLevel(): LogLevel {
  try {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    const value = g.Deno?.env?.get?.("SWITCHBOARD_LOG") ?? g.process?.env?.SWITCHBOARD_LOG;
    if (value && value in LEVELS) return value as LogLevel;
  } catch {
    // no env permission: keep the default
  }
  return "info";
}

let current: Logger = consoleLogger(envLevel());

/** The logger in use. */
export function getLogger(): Logger {
  return current;
}

/** Replaces the logger; returns the previous one so tests can restore it. */
export function setLogger(logger: Logger): Logger {
  const previous = current;
  current = logger;
  return previous;
}

// The process's log level (--log-level error|warn|info, --quiet) and the stderr lines that obey it.

export type LogLevel = 'error' | 'warn' | 'info';
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2 };
let level: LogLevel = 'info';

/** Parse a --log-level value; undefined when it is not one of error, warn, info. */
export function parseLogLevel(text: string): LogLevel | undefined {
  return text === 'error' || text === 'warn' || text === 'info' ? text : undefined;
}

export function setLogLevel(l: LogLevel): void {
  level = l;
}

export function logLevel(): LogLevel {
  return level;
}

/** Whether lines of level `l` are shown now. */
export function logs(l: LogLevel): boolean {
  return ORDER[l] <= ORDER[level];
}

/** Write `line` (a newline is added) to stderr when level `l` is shown. Errors are always shown. */
export function logLine(l: LogLevel, line: string): void {
  if (logs(l)) process.stderr.write(`${line}\n`);
}

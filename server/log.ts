// Structured logs: one JSON object per line on stdout, so that people can read them
// and scripts (the tests, the cluster supervisor) can parse them. Key events only;
// never secrets, never one line per delivery on a hot path.

export type LogFields = Record<string, unknown>;
export type Log = (event: string, fields?: LogFields) => void;

export interface LoggerOptions {
  role: string;
  id: string;
  write?: (line: string) => void;
  /** Milliseconds since the Unix epoch; the synchronised clock once it exists. */
  now?: () => number;
}

export function createLogger(options: LoggerOptions): Log {
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const now = options.now ?? Date.now;
  return (event, fields = {}) => {
    // The fixed fields come first and no event field may overwrite them.
    const line: Record<string, unknown> = { t: new Date(now()).toISOString(), role: options.role, id: options.id, event };
    for (const [key, value] of Object.entries(fields)) if (!(key in line)) line[key] = value;
    write(JSON.stringify(line));
  };
}

/** A logger that drops everything; for unit tests. */
export const silentLog: Log = () => {};

/**
 * Structured logging: one JSON object per line on stdout, so any log shipper can read it. A line
 * written in a request's or a message's span names its trace (`traceId`).
 */
import { traceIdOf } from "./trace.ts";
import { currentTraceparent } from "./trace_context.ts";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function createLogger(
  service: string,
  level: LogLevel = "info",
  write: (line: string) => void = (line) => console.log(line),
): Logger {
  const emit = (lineLevel: Exclude<LogLevel, "silent">) => (message: string, fields: LogFields = {}) => {
    if (rank[lineLevel] < rank[level]) return;
    const traceparent = currentTraceparent();
    write(JSON.stringify({
      time: new Date().toISOString(),
      level: lineLevel,
      service,
      message,
      ...(traceparent && { traceId: traceIdOf(traceparent) }),
      ...fields,
    }));
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/** A logger that keeps its lines, for tests that assert on what was logged. */
export function memoryLogger(service = "test"): Logger & { lines: LogFields[] } {
  const lines: LogFields[] = [];
  const logger = createLogger(service, "debug", (line) => lines.push(JSON.parse(line)));
  return Object.assign(logger, { lines });
}

export function describeError(error: unknown): LogFields {
  if (error instanceof Error) return { error: error.message, errorName: error.name, stack: error.stack };
  return { error: String(error) };
}

/** The fields of one structured log event: `{ event: 'accept', remote: '127.0.0.1:5300' }`. */
export type LogFields = Record<string, unknown>;

/** Logs one event at a level; `message` is an optional human summary. */
export type LogFn = (fields: LogFields, message?: string) => void;

/**
 * What sockit logs to: structured events (one object each) at four levels.
 * A pino logger satisfies it as is (the CLI uses pino: src/cli/log.ts), as do
 * small adapters over anything else. The library never imports a logging
 * package, so it costs a library user nothing they did not choose.
 */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger that adds `bindings` to every event. */
  child(bindings: LogFields): Logger;
}

const ignore: LogFn = () => undefined;

/** What library code logs to unless it is given a logger: nothing. */
export const silentLogger: Logger = {
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
  child: () => silentLogger,
};

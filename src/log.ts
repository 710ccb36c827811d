import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** What library code logs to unless it is given a logger: nothing. */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * Structured JSON lines (one object per event) to stdout, or to `fd`. The
 * `sockit serve` logger; library users pass their own pino logger.
 */
export function createLogger(options: { level?: string; fd?: number } = {}): Logger {
  return pino(
    { level: options.level ?? 'info', base: { pid: process.pid } },
    pino.destination({ fd: options.fd ?? 1, sync: true }),
  );
}

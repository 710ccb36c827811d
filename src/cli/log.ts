import { pino } from 'pino';
import type { Logger } from '../core.js';

/**
 * The CLI's logger: pino, structured JSON lines (one object per event) to
 * stdout or to `fd`, written synchronously so a line is out before a crash.
 */
export function createLogger(options: { level?: string; fd?: number } = {}): Logger {
  return pino(
    { level: options.level ?? 'info', base: { pid: process.pid } },
    pino.destination({ fd: options.fd ?? 1, sync: true }),
  );
}

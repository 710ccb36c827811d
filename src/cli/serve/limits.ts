/**
 * The bounds of `sockit serve --workers` (workers.ts), with their units
 * (docs/LIMITS.md, "Workers"). The chat IPC bus's own bounds live in
 * src/services/chat/limits.ts.
 */

/** `--workers` at most (a process per core is the point; 64 is many cores). */
export const MAX_WORKERS = 64;

/** A dead worker is started again after this (ms), doubling for each restart of it in the window… */
export const WORKER_RESTART_MIN_MS = 100;

/** …up to this (ms). */
export const WORKER_RESTART_MAX_MS = 5_000;

/** More restarts than this (all workers together) within the window and the primary gives up. */
export const WORKER_RESTART_LIMIT = 10;

/** The window the restarts are counted in (ms). */
export const WORKER_RESTART_WINDOW_MS = 60_000;

/**
 * On SIGINT/SIGTERM, a worker that has not exited this long after it was
 * told to stop is killed (ms): above the services' own 5 s shutdown grace.
 */
export const WORKER_STOP_TIMEOUT_MS = 10_000;

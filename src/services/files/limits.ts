/**
 * The files service's time bounds. Name sizes are in messages.ts (the codec
 * checks them) and the byte quotas in store-limits.ts (off unless set).
 * docs/LIMITS.md lists them.
 */

/** Partial uploads untouched for this long are removed when the server starts (ms): 7 days. */
export const DEFAULT_PARTIAL_TTL_MS = 7 * 24 * 3600_000;

/**
 * How long a client waits for the server to fsync, verify and rename a
 * finished upload (ms): a multi-GiB file on a slow disk takes minutes.
 */
export const COMMIT_TIMEOUT_MS = 10 * 60_000;

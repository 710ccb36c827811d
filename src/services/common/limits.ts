/**
 * Bounds shared by the authenticated services (exec, files, admin): the
 * handshake of SPEC §2.3 and its brute-force guard. docs/LIMITS.md lists them.
 */

/** How long a client has to authenticate (ms). */
export const DEFAULT_AUTH_TIMEOUT_MS = 10_000;

/** Before authentication a peer may send only a small `auth` header (bytes). */
export const PRE_AUTH_MAX_HEADER = 1024;

/** Failed answers from one address within the window before it is refused RATE_LIMITED. */
export const DEFAULT_AUTH_FAILURE_LIMIT = 20;

/** The brute-force window (ms): failures older than this are forgotten. */
export const DEFAULT_AUTH_FAILURE_WINDOW_MS = 60_000;

/** Addresses whose failures are counted; the oldest are forgotten first (≈ 1 MiB at most). */
export const DEFAULT_AUTH_MAX_TRACKED = 10_000;

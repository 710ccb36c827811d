/**
 * The exec service's default bounds (SPEC §2.3). The request's own sizes
 * (argv, env, cwd) are in messages.ts, where it is parsed. docs/LIMITS.md
 * lists them.
 */

/** Commands running at once, across all connections; the next gets BUSY. */
export const DEFAULT_MAX_COMMANDS = 16;

/** A command running longer than this is killed with TIMEOUT (ms): 10 minutes. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 10 * 60_000;

/** After SIGTERM, how long a command has before SIGKILL (ms). */
export const DEFAULT_KILL_GRACE_MS = 2_000;

/**
 * Output is paused (the child blocks on its pipe) as soon as a write does not
 * drain, so at most one pipe read (64 KiB) plus headers is ever queued; this
 * bound is only reached by a bug (bytes).
 */
export const EXEC_MAX_PENDING_WRITE = 4 * 1024 * 1024;

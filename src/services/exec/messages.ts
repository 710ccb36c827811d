import * as v from 'valibot';
import { EXEC_PORT } from '../../ports.js';

/** Default port (src/ports.ts, SPEC §2). */
export { EXEC_PORT };

/** Signals a client may forward to a running command. */
export const FORWARDED_SIGNALS = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGKILL',
  'SIGUSR1',
  'SIGUSR2',
] as const;
/** A signal the exec client forwards to the remote command. */
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];

/** Bounds on a `run` request; the header itself is at most 64 KiB. */
export const MAX_ARGS = 4096;
export const MAX_ARG_LENGTH = 32 * 1024;
export const MAX_ENV_ENTRIES = 256;
export const MAX_ENV_VALUE = 32 * 1024;
export const MAX_CWD_LENGTH = 4096;

/** Environment names as POSIX shells accept them. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** No NUL: execve would cut the string there, so what runs is not what was asked. */
const noNul = (s: string): boolean => !s.includes('\0');

/** A JSON object, not an array (valibot's record also takes arrays). */
const jsonObject = v.custom<Record<string, unknown>>(
  (input) => typeof input === 'object' && input !== null && !Array.isArray(input),
  (issue) => `Invalid type: Expected Object but received ${issue.received}`,
);

export const runRequestSchema = v.pipe(
  v.strictObject({
    type: v.literal('run'),
    argv: v.optional(
      v.pipe(
        v.array(
          v.pipe(v.string(), v.maxLength(MAX_ARG_LENGTH), v.check(noNul, 'NUL in an argument')),
        ),
        v.minLength(1),
        v.maxLength(MAX_ARGS),
      ),
    ),
    shell: v.optional(
      v.pipe(
        v.string(),
        v.minLength(1),
        v.maxLength(MAX_ARG_LENGTH),
        v.check(noNul, 'NUL in the command'),
      ),
    ),
    cwd: v.optional(
      v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_CWD_LENGTH), v.check(noNul, 'NUL in cwd')),
    ),
    env: v.optional(
      v.pipe(
        jsonObject,
        v.record(
          v.pipe(v.string(), v.regex(ENV_NAME, 'not an environment variable name')),
          v.pipe(v.string(), v.maxLength(MAX_ENV_VALUE), v.check(noNul, 'NUL in a value')),
        ),
        v.maxEntries(MAX_ENV_ENTRIES, 'too many env entries'),
      ),
    ),
    timeoutMs: v.optional(
      v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(2 ** 31 - 1)),
    ),
  }),
  v.check(
    (r) => (r.argv === undefined) !== (r.shell === undefined),
    'give exactly one of argv and shell',
  ),
  v.check((r) => r.argv === undefined || (r.argv[0] ?? '') !== '', 'argv[0] is empty'),
);
export type RunRequest = v.InferOutput<typeof runRequestSchema>;

export const stdinSchema = v.strictObject({
  type: v.literal('stdin'),
  size: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
});

export const eofSchema = v.strictObject({ type: v.literal('eof') });

export const signalSchema = v.strictObject({
  type: v.literal('signal'),
  signal: v.picklist(FORWARDED_SIGNALS),
});

/** Why sockit ended a command itself (absent when the command ended on its own). */
export const KILL_REASONS = ['COMMAND_TIMEOUT', 'OUTPUT_LIMIT', 'SHUTTING_DOWN'] as const;
/** Why the exec server killed a command (the `reason` of an {@link ExitEvent}). */
export type KillReason = (typeof KILL_REASONS)[number];

/** The last envelope of a command. */
export const exitSchema = v.looseObject({
  type: v.literal('exit'),
  code: v.nullable(v.pipe(v.number(), v.safeInteger())),
  signal: v.nullable(v.pipe(v.string(), v.maxLength(32))),
  durationMs: v.pipe(v.number(), v.finite(), v.minValue(0)),
  /** Set when sockit killed the command (its process group). */
  reason: v.optional(v.picklist(KILL_REASONS)),
  stdoutBytes: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(0))),
  stderrBytes: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(0))),
});
/** How a remote command ended: its exit code or signal, and why sockit killed it if it did. */
export type ExitEvent = v.InferOutput<typeof exitSchema>;

export const startedSchema = v.looseObject({
  type: v.literal('started'),
  pid: v.optional(v.pipe(v.number(), v.safeInteger())),
});

/** Output envelope types, in the order the server may send them. */
export type OutputStream = 'stdout' | 'stderr';

/** Environment keys that change which code runs: refused when --allow restricts argv[0]. */
export function isLoaderVariable(name: string): boolean {
  return name === 'PATH' || /^(LD_|DYLD_)/.test(name) || name === 'NODE_OPTIONS';
}

/**
 * The CLI's exit code for a command's end (SPEC §3): the remote code, or
 * 128 + n for a signal as shells report it.
 */
export function exitCodeOf(
  exit: Pick<ExitEvent, 'code' | 'signal'>,
  signalNumber: (name: string) => number | undefined,
): number {
  if (exit.code !== null) return exit.code;
  const n = exit.signal !== null ? signalNumber(exit.signal) : undefined;
  return n !== undefined ? 128 + n : EXIT_SOCKIT_FAILURE;
}

/** sockit's own failure (no connection, auth failed, BUSY…), distinct from any remote code (like ssh). */
export const EXIT_SOCKIT_FAILURE = 255;
/** argv[0] not found / not executable, as shells report them. */
export const EXIT_NOT_FOUND = 127;
export const EXIT_CANNOT_EXECUTE = 126;

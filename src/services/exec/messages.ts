import { z } from 'zod';

/** SPEC §2: the classic port 22 + 7000. */
export const EXEC_PORT = 7022;

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

export const runRequestSchema = z
  .strictObject({
    type: z.literal('run'),
    argv: z
      .array(z.string().max(MAX_ARG_LENGTH).refine(noNul, 'NUL in an argument'))
      .min(1)
      .max(MAX_ARGS)
      .optional(),
    shell: z.string().min(1).max(MAX_ARG_LENGTH).refine(noNul, 'NUL in the command').optional(),
    cwd: z.string().min(1).max(MAX_CWD_LENGTH).refine(noNul, 'NUL in cwd').optional(),
    env: z
      .record(
        z.string().regex(ENV_NAME, 'not an environment variable name'),
        z.string().max(MAX_ENV_VALUE).refine(noNul, 'NUL in a value'),
      )
      .refine((env) => Object.keys(env).length <= MAX_ENV_ENTRIES, 'too many env entries')
      .optional(),
    timeoutMs: z
      .number()
      .int()
      .min(1)
      .max(2 ** 31 - 1)
      .optional(),
  })
  .refine((r) => (r.argv === undefined) !== (r.shell === undefined), {
    message: 'give exactly one of argv and shell',
  })
  .refine((r) => r.argv === undefined || (r.argv[0] ?? '') !== '', {
    message: 'argv[0] is empty',
  });
export type RunRequest = z.infer<typeof runRequestSchema>;

export const stdinSchema = z.strictObject({
  type: z.literal('stdin'),
  size: z.number().int().min(0),
});

export const eofSchema = z.strictObject({ type: z.literal('eof') });

export const signalSchema = z.strictObject({
  type: z.literal('signal'),
  signal: z.enum(FORWARDED_SIGNALS),
});

/** Why sockit ended a command itself (absent when the command ended on its own). */
export const KILL_REASONS = ['COMMAND_TIMEOUT', 'OUTPUT_LIMIT', 'SHUTTING_DOWN'] as const;
export type KillReason = (typeof KILL_REASONS)[number];

/** The last envelope of a command. */
export const exitSchema = z.looseObject({
  type: z.literal('exit'),
  code: z.number().int().nullable(),
  signal: z.string().max(32).nullable(),
  durationMs: z.number().min(0),
  /** Set when sockit killed the command (its process group). */
  reason: z.enum(KILL_REASONS).optional(),
  stdoutBytes: z.number().int().min(0).optional(),
  stderrBytes: z.number().int().min(0).optional(),
});
export type ExitEvent = z.infer<typeof exitSchema>;

export const startedSchema = z.looseObject({
  type: z.literal('started'),
  pid: z.number().int().optional(),
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

import { SockitError, UsageError, escapeText, type ErrorCode } from '../core.js';

/** SPEC §3 exit codes. exec will add the remote code. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Prints results for people, or as JSON lines with --json. */
export class Output {
  constructor(readonly json: boolean) {}

  /** One result or event: `human` for people, `event` as a JSON line. */
  emit(event: Record<string, unknown>, human: string | Buffer): void {
    if (this.json) process.stdout.write(`${JSON.stringify(event)}\n`);
    else process.stdout.write(human);
  }

  /** One line for an error, never a stack trace. Returns the exit code to use. */
  error(err: unknown): number {
    const known = err instanceof SockitError;
    const code: ErrorCode = known ? err.code : 'INTERNAL';
    // A message may quote a server or a file name: never let it drive the terminal.
    const message = escapeText(err instanceof Error ? err.message : String(err));
    if (this.json) process.stdout.write(`${JSON.stringify({ type: 'error', code, message })}\n`);
    else process.stderr.write(`sockit: ${message}${known ? ` (${code})` : ''}\n`);
    if (!known && process.env.SOCKIT_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }
}

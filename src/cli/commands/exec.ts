import { constants } from 'node:os';
import { Writable } from 'node:stream';
import { Command, InvalidArgumentError } from 'commander';
import {
  EXEC_PORT,
  ExecClient,
  SockitError,
  UsageError,
  parseAddress,
  type ExitEvent,
  type RunOptions,
} from '../../index.js';
import {
  EXIT_CANNOT_EXECUTE,
  EXIT_NOT_FOUND,
  EXIT_SOCKIT_FAILURE,
  exitCodeOf,
} from '../../services/exec/internal.js';
import { requireToken } from '../../internal.js';
import { parseDuration } from '../options.js';
import { EXIT_USAGE, Output } from '../output.js';
import { addTlsClientOptions, tlsOption, type TlsCliOptions } from '../tls-options.js';

interface ExecOptions extends TlsCliOptions {
  tokenFile?: string;
  shell?: string;
  cwd?: string;
  env: Record<string, string>;
  commandTimeout?: number;
  timeout: number;
  stdin: boolean;
  json: boolean;
}

function collectEnv(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected NAME=VALUE');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Output bytes as a JSON line: text when the chunk is valid UTF-8, else base64. */
function outputEvent(stream: 'stdout' | 'stderr', chunk: Buffer): Record<string, unknown> {
  try {
    return { type: stream, text: utf8.decode(chunk) };
  } catch {
    return { type: stream, base64: chunk.toString('base64') };
  }
}

/** A sink that writes to `target` with its backpressure (a slow terminal pauses the command). */
function passTo(target: NodeJS.WriteStream, transform?: (chunk: Buffer) => string): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const data = transform ? transform(chunk) : chunk;
      if (target.write(data)) done();
      else
        target.once('drain', () => {
          done();
        });
    },
  });
}

function signalNumber(name: string): number | undefined {
  return (constants.signals as Record<string, number | undefined>)[name];
}

/** What a script sees in $?: the remote code, 128+n for a signal, 127/126 like a shell, 255 for sockit itself. */
function failureExitCode(err: unknown): number {
  if (err instanceof UsageError) return EXIT_USAGE;
  if (err instanceof SockitError && err.code === 'COMMAND_NOT_FOUND') return EXIT_NOT_FOUND;
  if (err instanceof SockitError && err.code === 'SPAWN_FAILED') return EXIT_CANNOT_EXECUTE;
  return EXIT_SOCKIT_FAILURE;
}

function describeKill(exit: ExitEvent): string | undefined {
  switch (exit.reason) {
    case 'COMMAND_TIMEOUT':
      return `command timed out after ${exit.durationMs} ms and was killed (COMMAND_TIMEOUT)`;
    case 'OUTPUT_LIMIT':
      return `command passed the server's output limit and was killed (OUTPUT_LIMIT)`;
    case 'SHUTTING_DOWN':
      return 'the server shut down and killed the command (SHUTTING_DOWN)';
    default:
      return undefined;
  }
}

async function execRemote(target: string, argv: string[], options: ExecOptions): Promise<number> {
  const out = new Output(options.json);
  if ((argv.length === 0) === (options.shell === undefined)) {
    throw new UsageError('BAD_OPTION', 'give a command after "--", or --shell "STRING"');
  }
  const { token } = await requireToken(
    options.tokenFile !== undefined ? { file: options.tokenFile } : {},
  );
  const client = await ExecClient.connect(parseAddress(target, { port: EXEC_PORT }), {
    token,
    connectTimeoutMs: options.timeout,
    handshakeTimeoutMs: options.timeout,
    ...(await tlsOption(options)),
  });
  // Ctrl-C: forward SIGINT; again: SIGKILL; a third time: leave (the server then kills the group).
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) client.signal('SIGINT');
    else if (interrupts === 2) client.signal('SIGKILL');
    else {
      client.destroy();
      process.exit(130);
    }
  };
  const onSigterm = (): void => {
    client.signal('SIGTERM');
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  const request: RunOptions = {
    ...(options.shell !== undefined ? { shell: options.shell } : { argv }),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(Object.keys(options.env).length > 0 ? { env: options.env } : {}),
    ...(options.commandTimeout !== undefined ? { timeoutMs: options.commandTimeout } : {}),
  };
  const json = options.json;
  const stdout = json
    ? passTo(process.stdout, (c) => `${JSON.stringify(outputEvent('stdout', c))}\n`)
    : passTo(process.stdout);
  const stderr = json
    ? passTo(process.stdout, (c) => `${JSON.stringify(outputEvent('stderr', c))}\n`)
    : passTo(process.stderr);
  try {
    const exit = await client.run(request, {
      stdout,
      stderr,
      ...(options.stdin ? { stdin: process.stdin } : {}),
      onStarted: (pid) => {
        if (json) out.emit({ type: 'started', ...(pid !== undefined ? { pid } : {}) }, '');
      },
    });
    // Everything the command wrote reaches our stdout before the exit line.
    await Promise.all([finish(stdout), finish(stderr)]);
    const code = exitCodeOf(exit, signalNumber);
    if (json) out.emit({ ...exit, exitCode: code }, '');
    else {
      const killed = describeKill(exit);
      if (killed) process.stderr.write(`sockit: ${killed}\n`);
    }
    return code;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    process.stdin.destroy(); // a terminal or pipe still open must not keep us alive
    await client.close().catch(() => undefined);
  }
}

function finish(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    stream.end(() => {
      resolve();
    });
  });
}

export function execCommand(): Command {
  const command = new Command('exec')
    .summary('run a command on an exec server')
    .description(
      'Runs CMD ARGS on the server, directly (no shell), with this stdin streamed to it; prints its\n' +
        'stdout to stdout and its stderr to stderr, and exits with its exit code (128+n if a signal\n' +
        'ended it, 127 if it was not found, 126 if it could not start, 255 if sockit itself failed).\n' +
        'Ctrl-C is forwarded as SIGINT, a second as SIGKILL. The token comes from --token-file,\n' +
        `SOCKIT_TOKEN, or the token file "sockit serve" created. HOST's port defaults to ${EXEC_PORT}.`,
    )
    .usage('[options] HOST -- CMD [ARGS...]')
    .argument('<host>', 'server address: host, host:port, [v6]:port or unix:/path')
    .argument('[command...]', 'the command and its arguments (after --)')
    .option('--token-file <file>', 'the shared token (never on the command line)')
    .option('--shell <string>', 'run a shell string instead (server needs --allow-shell)')
    .option('--cwd <dir>', 'working directory on the server')
    .option('-e, --env <NAME=VALUE>', 'set an environment variable (repeatable)', collectEnv, {})
    .option(
      '--command-timeout <duration>',
      "kill the command after this (the server's limit applies too)",
      parseDuration,
    )
    .option('--timeout <duration>', 'connect and handshake timeout', parseDuration, 10_000)
    .option('-n, --no-stdin', 'send no stdin (EOF at once), like ssh -n')
    .option('--json', 'print events as JSON lines: started, stdout, stderr, exit', false);
  return addTlsClientOptions(command).action(
    async (target: string, words: string[], options: ExecOptions) => {
      // Options go before "--"; everything after it belongs to the command.
      const argv = words[0] === '--' ? words.slice(1) : words;
      try {
        process.exitCode = await execRemote(target, argv, options);
      } catch (err) {
        const code = failureExitCode(err);
        new Output(options.json).error(err);
        process.exitCode = code;
      }
    },
  );
}

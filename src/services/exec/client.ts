import type { Readable, Writable } from 'node:stream';
import * as v from 'valibot';
import { NetworkError, ProtocolError, fromErrorEnvelope, UsageError } from '../../errors.js';
import type { EnvelopeHeader } from '../../protocol/envelope.js';
import type { Address } from '../../transport/address.js';
import type { Connection } from '../../transport/connection.js';
import { EnvelopeChannel } from '../../transport/envelope-channel.js';
import { connect } from '../../transport/tcp-client.js';
import type { TlsClientConfig } from '../../transport/tls.js';
import { clientHandshake } from '../common/handshake.js';
import { exitSchema, startedSchema, type ExitEvent, type ForwardedSignal } from './messages.js';

/** Options of {@link ExecClient}: token, TLS, timeouts. */
export interface ExecClientOptions {
  /** The shared token (see requireToken). */
  token: string;
  /** @default 10 000 ms */
  connectTimeoutMs?: number;
  /** Greeting and authentication (ms). @default 10 000 */
  handshakeTimeoutMs?: number;
  /** Speak TLS, with this trust policy (see trustPolicy). */
  tls?: TlsClientConfig;
}

/** One command to run: argv directly, or a shell string if the server allows it. */
export type RunOptions = (
  { argv: readonly string[]; shell?: undefined } | { shell: string; argv?: undefined }
) & {
  cwd?: string;
  env?: Readonly<Record<string, string>>;
  timeoutMs?: number;
};

/** Where a remote command's stdin comes from and its stdout/stderr go. */
export interface RunIo {
  /** Streamed as the command's stdin, then EOF. Absent: EOF at once. */
  stdin?: Readable | Uint8Array;
  /** The command's output; a write returning false pauses the command until 'drain'. */
  stdout: Writable;
  stderr: Writable;
  /** The command exists on the server. */
  onStarted?(pid: number | undefined): void;
}

/**
 * A client of the exec service: authenticates once, then runs commands one
 * after another on the same connection.
 * @example
 * ```ts
 * import { ExecClient, ensureToken, parseAddress } from 'sockit';
 *
 * const { token } = await ensureToken();
 * const client = await ExecClient.connect(parseAddress('127.0.0.1', { port: 7022 }), { token });
 * const exit = await client.run(
 *   { argv: ['uname', '-a'], timeoutMs: 10_000 },
 *   { stdout: process.stdout, stderr: process.stderr },
 * );
 * console.log(exit.code, exit.signal);
 * await client.close();
 * ```
 */
export class ExecClient {
  private readonly channel: EnvelopeChannel;
  private busy = false;

  private constructor(channel: EnvelopeChannel) {
    this.channel = channel;
  }

  static async connect(address: Address, options: ExecClientOptions): Promise<ExecClient> {
    const conn: Connection = await connect(address, {
      ...(options.connectTimeoutMs !== undefined
        ? { connectTimeoutMs: options.connectTimeoutMs }
        : {}),
      ...(options.tls ? { tls: options.tls } : {}),
    });
    const channel = new EnvelopeChannel(conn);
    await clientHandshake(channel, {
      service: 'exec',
      token: options.token,
      ...(options.handshakeTimeoutMs !== undefined
        ? { timeoutMs: options.handshakeTimeoutMs }
        : {}),
    });
    return new ExecClient(channel);
  }

  /**
   * Runs one command and resolves with how it ended. Rejects with the
   * server's error (NOT_ALLOWED, COMMAND_NOT_FOUND, BUSY…) if it did not run.
   */
  run(request: RunOptions, io: RunIo): Promise<ExitEvent> {
    if (this.busy)
      throw new UsageError('INVALID_STATE', 'a command is already running on this client');
    this.busy = true;
    const channel = this.channel;
    let stopStdin = (): void => undefined;
    const done = new Promise<ExitEvent>((resolve, reject) => {
      let sink: Writable | undefined;
      const fail = (error: Error): void => {
        stopStdin();
        reject(error);
      };
      channel.setHandlers({
        header: (header: EnvelopeHeader) => {
          switch (header.type) {
            case 'started': {
              const started = v.safeParse(startedSchema, header);
              io.onStarted?.(started.success ? started.output.pid : undefined);
              stopStdin = this.pumpStdin(io.stdin);
              return;
            }
            case 'stdout':
            case 'stderr':
              sink = header.type === 'stdout' ? io.stdout : io.stderr;
              return;
            case 'exit': {
              const exit = v.safeParse(exitSchema, header);
              stopStdin();
              if (exit.success) resolve(exit.output);
              else fail(new ProtocolError('BAD_REPLY', 'malformed "exit" from the server'));
              return;
            }
            case 'error':
              fail(fromErrorEnvelope(header));
              return;
            default:
              fail(
                new ProtocolError(
                  'BAD_REPLY',
                  `unexpected "${header.type.slice(0, 32)}" from the server`,
                ),
              );
          }
        },
        body: (chunk) => {
          if (sink && !sink.write(chunk)) {
            // Our reader is slow: stop reading, and the server pauses the command.
            const target = sink;
            channel.pause();
            target.once('drain', () => {
              channel.resume();
            });
          }
        },
        end: () => {
          fail(new NetworkError('CONNECTION_CLOSED', 'server closed the connection'));
        },
        close: (info) => {
          fail(info.error ?? new NetworkError('CONNECTION_CLOSED', 'server closed the connection'));
        },
      });
    });
    channel.send({ type: 'run', ...request });
    channel.resume();
    return done.finally(() => {
      this.busy = false;
    });
  }

  /** Forwards a signal to the running command's process group. */
  signal(signal: ForwardedSignal): void {
    this.channel.send({ type: 'signal', signal });
  }

  /** Ends the connection politely. */
  async close(): Promise<void> {
    this.channel.end();
    await this.channel.connection.whenClosed;
  }

  destroy(): void {
    this.channel.connection.destroy();
  }

  /** Streams stdin as `stdin` envelopes then `eof`; returns a function that stops it. */
  private pumpStdin(stdin: Readable | Uint8Array | undefined): () => void {
    const channel = this.channel;
    if (stdin === undefined || stdin instanceof Uint8Array) {
      if (stdin && stdin.length > 0) channel.send({ type: 'stdin', size: stdin.length }, stdin);
      channel.send({ type: 'eof' });
      return () => undefined;
    }
    let stopped = false;
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (stopped || bytes.length === 0) return;
      if (!channel.send({ type: 'stdin', size: bytes.length }, bytes)) {
        stdin.pause();
        void channel.drained().then(() => {
          if (!stopped) stdin.resume();
        });
      }
    };
    const onEnd = (): void => {
      if (!stopped) channel.send({ type: 'eof' });
      cleanup();
    };
    const onError = (): void => {
      // A stdin that cannot be read ends like an empty one.
      onEnd();
    };
    const cleanup = (): void => {
      stopped = true;
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onError);
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.once('error', onError);
    return () => {
      if (stopped) return;
      cleanup();
      stdin.pause();
    };
  }
}

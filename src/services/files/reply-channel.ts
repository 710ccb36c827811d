import {
  NetworkError,
  ProtocolError,
  ServiceError,
  SockitError,
  fromErrorEnvelope,
} from '../../errors.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../../limits.js';
import type { EnvelopeHeader } from '../../protocol/envelope.js';
import type { Address } from '../../transport/address.js';
import type { CloseInfo, Connection } from '../../transport/connection.js';
import { EnvelopeChannel } from '../../transport/envelope-channel.js';
import { connect } from '../../transport/tcp-client.js';
import { clientHandshake } from '../common/handshake.js';
import type { FilesClientOptions, Progress } from './client-options.js';
import { fsError } from './fs-error.js';
import { escapeName } from './messages.js';
import type { PartialWriter } from './partial-writer.js';

export function badReply(what: string): ProtocolError {
  return new ProtocolError('BAD_REPLY', `server sent ${what}`);
}

interface Waiter {
  resolve: (header: EnvelopeHeader) => void;
  reject: (error: SockitError) => void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * A client's side of one authenticated files connection: a request is sent,
 * its replies are awaited one header at a time (each within the reply
 * timeout), a body goes to a writer with backpressure. An error envelope
 * answers the request it follows; anything unasked ends the connection.
 */
export class ReplyChannel {
  readonly timeoutMs: number;
  private readonly channel: EnvelopeChannel;
  private waiter: Waiter | undefined;
  private failure: SockitError | undefined;
  private body: { chunk(c: Buffer): void; end(): void } | undefined;

  private constructor(channel: EnvelopeChannel, timeoutMs: number) {
    this.channel = channel;
    this.timeoutMs = timeoutMs;
    channel.setHandlers({
      header: (header) => {
        this.onHeader(header);
      },
      body: (chunk) => this.body?.chunk(chunk),
      bodyEnd: () => this.body?.end(),
      end: () => {
        this.fail(new NetworkError('CONNECTION_CLOSED', 'server closed the connection'));
        channel.end();
      },
      close: (info: CloseInfo) => {
        this.fail(
          info.error ?? new NetworkError('CONNECTION_CLOSED', 'server closed the connection'),
        );
      },
    });
  }

  /** Connects and authenticates. */
  static async open(address: Address, options: FilesClientOptions): Promise<ReplyChannel> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const conn = await connect(address, {
      ...options,
      connectTimeoutMs: options.connectTimeoutMs ?? timeoutMs,
    });
    const channel = new EnvelopeChannel(conn, { byteOrder: options.byteOrder ?? 'u32be' });
    await clientHandshake(channel, { service: 'files', token: options.token, timeoutMs });
    const replies = new ReplyChannel(channel, timeoutMs);
    channel.resume();
    return replies;
  }

  get connection(): Connection {
    return this.channel.connection;
  }

  send(header: EnvelopeHeader): void {
    this.channel.send(header);
  }

  /** Queues body bytes; false means: wait for `drained()`. */
  sendBody(piece: Buffer): boolean {
    return this.channel.sendBody(piece);
  }

  drained(): Promise<void> {
    return this.channel.drained();
  }

  resume(): void {
    this.channel.resume();
  }

  /** Finishes our side and waits for the server to close. */
  async close(): Promise<void> {
    this.channel.end();
    await this.channel.connection.whenClosed;
  }

  destroy(): void {
    this.channel.connection.destroy();
  }

  /** The next header from the server, with the channel paused (resume when ready for more). */
  next(timeoutMs = this.timeoutMs): Promise<EnvelopeHeader> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.fail(new NetworkError('TIMEOUT', `no reply within ${timeoutMs} ms`));
              this.channel.connection.destroy();
            }, timeoutMs)
          : undefined;
      this.waiter = { resolve, reject, timer };
      this.channel.resume();
    });
  }

  /** A body announced by the header just read, into `writer`, pausing while the disk catches up. */
  async receiveBody(writer: PartialWriter, total: number, onProgress?: Progress): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.waiter = { resolve: () => undefined, reject, timer: undefined };
      this.body = {
        chunk: (chunk) => {
          let wait: Promise<void> | undefined;
          try {
            wait = writer.push(chunk);
          } catch (err) {
            this.body = undefined;
            this.channel.connection.destroy();
            reject(fsError(err, 'write'));
            return;
          }
          onProgress?.(writer.received, total);
          if (wait) {
            this.channel.pause();
            wait.then(
              () => {
                this.channel.resume();
              },
              (err: unknown) => {
                this.body = undefined;
                this.channel.connection.destroy();
                reject(fsError(err, 'write'));
              },
            );
          }
        },
        end: () => {
          this.body = undefined;
          this.waiter = undefined;
          this.channel.pause(); // the "done" that follows waits for next()
          resolve();
        },
      };
      this.channel.resume();
    });
  }

  /** Throws if the connection failed or closed. */
  check(): void {
    if (this.failure) throw this.failure;
    if (this.channel.connection.isClosed) {
      throw new NetworkError('CONNECTION_CLOSED', 'server closed the connection');
    }
  }

  /** A reply we cannot trust ends the connection. */
  broken(error: SockitError): SockitError {
    this.failure ??= error;
    this.channel.connection.destroy();
    return error;
  }

  private onHeader(header: EnvelopeHeader): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter?.timer) clearTimeout(waiter.timer);
    this.channel.pause();
    if (header.type === 'error') {
      const raw = fromErrorEnvelope(header);
      // The server's text reaches a terminal: escaped, like every name.
      const error = new ServiceError(raw.code, escapeName(raw.message.slice(0, 1024)));
      this.body = undefined;
      // An answer to a request (NOT_FOUND…) leaves the connection usable; unasked, it ends it.
      if (waiter) waiter.reject(error);
      else this.failure ??= error;
      return;
    }
    if (!waiter || this.body) {
      this.fail(badReply(`an unexpected "${escapeName(header.type.slice(0, 32))}"`));
      this.channel.connection.destroy();
      return;
    }
    waiter.resolve(header);
  }

  private fail(error: SockitError): void {
    this.failure ??= error;
    const waiter = this.waiter;
    this.waiter = undefined;
    this.body = undefined;
    if (waiter) {
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.reject(this.failure);
    }
  }
}

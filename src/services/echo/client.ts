import { NetworkError, ProtocolError, SockitError, UsageError } from '../../errors.js';
import { DEFAULT_MAX_FRAME, DEFAULT_REQUEST_TIMEOUT_MS } from '../../limits.js';
import { FrameDecoder } from '../../protocol/frame-decoder.js';
import type { ResolvedFraming } from '../../protocol/framing.js';
import { LineDecoder } from '../../protocol/line-decoder.js';
import { parseTextNotice } from '../../protocol/text-notice.js';
import { formatAddress, type Address } from '../../transport/address.js';
import type { Connection } from '../../transport/connection.js';
import { FrameWriter } from '../../transport/frame-writer.js';
import { connect, type ConnectOptions } from '../../transport/tcp-client.js';
import { UdpClient } from '../../transport/udp-client.js';
import { WELCOME, helloReply, stripLineEnd, upperAsciiInPlace } from './messages.js';

const WELCOME_BYTES = Buffer.from(WELCOME);

/** Options of {@link EchoClient}: framing, timeouts and TLS. */
export interface EchoClientOptions extends ConnectOptions {
  /** How messages are delimited: frames (default u32be) or text lines (`raw`). */
  framing?: ResolvedFraming;
  /** How long each reply may take (ms). @default 10 000 */
  timeoutMs?: number;
  /** @default 16 MiB */
  maxFrame?: number;
  /** Calls with messages the server sent unasked (the `hello` greeting). */
  onUnsolicited?: (message: Buffer) => void;
}

interface Waiter {
  resolve: (reply: Buffer) => void;
  reject: (error: SockitError) => void;
  timer: NodeJS.Timeout;
}

/**
 * A TCP echo client. Requests may be pipelined: replies come back in order,
 * so the n-th reply answers the n-th request. In `raw` framing a message is
 * a line (sent with a trailing LF; the reply is the next line).
 * @example
 * ```ts
 * import { EchoClient, parseAddress } from 'sockit';
 *
 * const client = await EchoClient.connect(parseAddress('127.0.0.1', { port: 7007 }));
 * const reply = await client.request(Buffer.from('hello'));
 * console.log(reply.toString()); // HELLO
 * await client.close();
 * ```
 */
export class EchoClient {
  private readonly conn: Connection;
  private readonly framing: ResolvedFraming;
  private readonly timeoutMs: number;
  private readonly writer: FrameWriter | undefined;
  private readonly waiting: Waiter[] = [];
  private readonly onUnsolicited: ((message: Buffer) => void) | undefined;
  private failure: SockitError | undefined;
  private receivedAny = false;
  private firstRequest: Buffer | undefined;

  private constructor(conn: Connection, options: EchoClientOptions) {
    this.conn = conn;
    this.framing = options.framing ?? 'u32be';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.onUnsolicited = options.onUnsolicited;
    const maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
    const deliver = (message: Buffer): void => {
      this.deliver(message);
    };
    let decoder: { push(chunk: Buffer): unknown; end(): void };
    if (this.framing === 'raw') {
      decoder = new LineDecoder(deliver, { maxLine: maxFrame });
    } else {
      const byteOrder = this.framing;
      this.writer = new FrameWriter(conn, { byteOrder, maxFrame });
      // Copy: a reply may be kept by the caller long after the chunk.
      decoder = new FrameDecoder(
        (payload) => {
          deliver(Buffer.from(payload));
        },
        { byteOrder, maxFrame },
      );
    }
    conn.start({
      data: (chunk) => {
        try {
          decoder.push(chunk);
        } catch (err) {
          // The server's text notice (BUSY, FRAME_TOO_LARGE…) reads as an absurd frame length.
          const notice = parseTextNotice(chunk);
          if (notice) throw new ProtocolError(notice.code, `server: ${notice.message}`);
          throw err;
        }
      },
      end: () => {
        decoder.end();
        conn.end();
      },
      close: (info) => {
        this.failAll(
          info.error ?? new NetworkError('CONNECTION_CLOSED', 'server closed the connection'),
        );
      },
    });
  }

  static async connect(address: Address, options: EchoClientOptions = {}): Promise<EchoClient> {
    const conn = await connect(address, options);
    return new EchoClient(conn, options);
  }

  get remote(): string {
    return this.conn.remote;
  }

  /** Sends one message and resolves with its reply. */
  request(message: Uint8Array): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      // Send first: a local FRAME_TOO_LARGE must reject this call without
      // leaving a waiter behind to steal the next request's reply.
      if (this.writer) this.writer.send(message);
      else this.conn.write(Buffer.concat([message, Buffer.from('\n')]));
      this.firstRequest ??= Buffer.from(message);
      const timer = setTimeout(() => {
        this.conn.destroy();
        this.failAll(new NetworkError('TIMEOUT', `no reply within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.push({ resolve, reject, timer });
    });
  }

  /** Finishes our side and waits for the server to close. */
  async close(): Promise<void> {
    this.writer?.flush();
    this.conn.end();
    await this.conn.whenClosed;
  }

  /** Closes at once. */
  destroy(): void {
    this.conn.destroy();
  }

  private deliver(message: Buffer): void {
    // A hello server greets first (SPEC §2.1), possibly after our first request
    // went out: that greeting is not the reply. No upper/echo/hello reply can
    // be `Welcome!` unless the request itself was `Welcome!` (echo mode).
    const first = !this.receivedAny;
    this.receivedAny = true;
    if (first && message.equals(WELCOME_BYTES) && !this.firstRequest?.equals(WELCOME_BYTES)) {
      this.onUnsolicited?.(message);
      return;
    }
    const waiter = this.waiting.shift();
    if (!waiter) {
      this.onUnsolicited?.(message);
      return;
    }
    clearTimeout(waiter.timer);
    waiter.resolve(message);
  }

  private failAll(error: SockitError): void {
    this.failure ??= error;
    for (const waiter of this.waiting.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.failure);
    }
  }
}

/**
 * One UDP echo exchange per call, retried on loss.
 * @example
 * ```ts
 * import { EchoUdpClient, parseAddress } from 'sockit';
 *
 * const udp = await EchoUdpClient.open(parseAddress('127.0.0.1', { port: 7007 }));
 * const { reply, rttMs } = await udp.request(Buffer.from('ping'));
 * console.log(reply.toString(), `${rttMs} ms`); // PING
 * udp.close();
 * ```
 */
export class EchoUdpClient {
  private readonly client: UdpClient;
  private readonly timeoutMs: number;

  private constructor(client: UdpClient, timeoutMs: number) {
    this.client = client;
    this.timeoutMs = timeoutMs;
  }

  static async open(
    address: Address,
    options: { timeoutMs?: number } = {},
  ): Promise<EchoUdpClient> {
    if (address.kind !== 'inet') {
      throw new UsageError('BAD_ADDRESS', `UDP needs host:port, not ${formatAddress(address)}`);
    }
    return new EchoUdpClient(
      await UdpClient.open(address),
      options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    );
  }

  /**
   * Sends one datagram (resent on loss) and resolves with its answer. Only an
   * answer to *this* message is taken — upper-cased, echoed or greeted, as the
   * server's mode may be — so a late or duplicated reply to an earlier
   * request is ignored instead of being taken for this one.
   */
  async request(message: Uint8Array): Promise<{ reply: Buffer; rttMs: number }> {
    const answers = [
      Buffer.from(upperAsciiInPlace(Buffer.from(message))),
      Buffer.from(message),
      helloReply(stripLineEnd(message)),
    ];
    const { reply, rttMs } = await this.client.request(message, {
      timeoutMs: this.timeoutMs,
      match: (candidate) => answers.some((answer) => answer.equals(candidate)),
    });
    return { reply, rttMs };
  }

  close(): void {
    this.client.close();
  }
}

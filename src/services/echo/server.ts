import { SockitError } from '../../errors.js';
import { DEFAULT_LINE_SETTLE_MS, DEFAULT_MAX_FRAME } from '../../limits.js';
import { silentLogger, type Logger } from '../../log.js';
import { FrameDecoder } from '../../protocol/frame-decoder.js';
import { detectFraming, type FramingMode, type ResolvedFraming } from '../../protocol/framing.js';
import { encodeTextNotice } from '../../protocol/text-notice.js';
import { formatAddress, type Address } from '../../transport/address.js';
import type { Connection, ConnectionHandlers } from '../../transport/connection.js';
import { FrameWriter } from '../../transport/frame-writer.js';
import { TcpServer, type TcpServerOptions } from '../../transport/tcp-server.js';
import { UdpServer, type UdpServerOptions } from '../../transport/udp-server.js';
import { SettlingLines } from '../common/settling-lines.js';
import { upperAsciiInPlaceOf } from './upper-ascii.js';
import {
  WELCOME,
  helloReply,
  isExit,
  stripLineEnd,
  upperAsciiInPlace,
  type ReplyMode,
} from './messages.js';
import type { Service } from '../common/service.js';

/** Options of {@link EchoServer}; every field has a default (docs/LIMITS.md). */
export interface EchoServerOptions {
  /** @default 'auto': framed u32be or raw text by the client's first byte */
  framing?: FramingMode;
  /** @default 'upper' */
  reply?: ReplyMode;
  /** @default 16 MiB */
  maxFrame?: number;
  /**
   * Raw hello mode: a read that ends without a line end is the whole message
   * once no more bytes came for this long (ms); 0 waits for the line end.
   * @default 100
   */
  lineSettleMs?: number;
  /** TCP limits (connections, timeouts, buffers). */
  tcp?: Omit<TcpServerOptions, 'logger' | 'name' | 'busyNotice'>;
  /** UDP limits (datagram size, rate). */
  udp?: Omit<UdpServerOptions, 'logger' | 'name'>;
  logger?: Logger;
}

/** Where an {@link EchoServer} listens: a TCP (or Unix socket) address, and optionally UDP. */
export interface EchoListen {
  /** TCP (or Unix socket) address to serve. */
  tcp?: Address;
  /** UDP address to serve. */
  udp?: Address;
}

const LINE_END = Buffer.from('\n');

/** Echo notices are text lines (see protocol/text-notice.ts). */
function notice(error: SockitError): Buffer {
  return encodeTextNotice(error.code, error.message);
}

/**
 * The echo service (SPEC §2.1): framed or raw TCP, told apart by the first
 * byte, and UDP. Each message is answered upper-cased, echoed, or greeted.
 * @example
 * ```ts
 * import { EchoServer } from 'sockit';
 *
 * // Framed u32be clients and `nc` users on one TCP port, and UDP on the same number.
 * const server = new EchoServer({ reply: 'upper' });
 * await server.listen({
 *   tcp: { kind: 'inet', host: '127.0.0.1', port: 7007 },
 *   udp: { kind: 'inet', host: '127.0.0.1', port: 7007 },
 * });
 * console.log(server.addresses);
 * process.once('SIGINT', () => void server.close());
 * ```
 */
export class EchoServer implements Service {
  readonly name = 'echo';
  private readonly framing: FramingMode;
  private readonly reply: ReplyMode;
  private readonly maxFrame: number;
  private readonly tcp: TcpServer;
  private readonly udp: UdpServer;
  private readonly log: Logger;
  private listening: { tcp?: Address; udp?: Address } = {};
  /** What every connection's EchoSession needs, shared. */
  private readonly session: SessionConfig;

  constructor(options: EchoServerOptions = {}) {
    this.framing = options.framing ?? 'auto';
    this.reply = options.reply ?? 'upper';
    this.maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
    this.log = (options.logger ?? silentLogger).child({ service: 'echo' });
    this.session = {
      reply: this.reply,
      maxFrame: this.maxFrame,
      lineSettleMs: options.lineSettleMs ?? DEFAULT_LINE_SETTLE_MS,
      log: this.log,
    };
    this.tcp = new TcpServer(
      (conn) => {
        this.serve(conn);
      },
      {
        ...options.tcp,
        name: 'echo',
        logger: options.logger ?? silentLogger,
        busyNotice: notice,
      },
    );
    this.udp = new UdpServer((msg) => this.answerDatagram(msg), {
      ...options.udp,
      name: 'echo',
      logger: options.logger ?? silentLogger,
    });
  }

  /** Starts listening; resolves with the bound addresses (real ports when 0 was asked). */
  async listen(where: EchoListen): Promise<{ tcp?: Address; udp?: Address }> {
    if (where.tcp) this.listening.tcp = await this.tcp.listen(where.tcp);
    try {
      if (where.udp) this.listening.udp = await this.udp.listen(where.udp);
    } catch (err) {
      await this.tcp.close(0);
      throw err;
    }
    return this.listening;
  }

  /** Bound addresses, as `tcp 127.0.0.1:7007`, for logs and the CLI. */
  get addresses(): string[] {
    const out: string[] = [];
    if (this.listening.tcp) out.push(`tcp ${formatAddress(this.listening.tcp)}`);
    if (this.listening.udp) out.push(`udp ${formatAddress(this.listening.udp)}`);
    return out;
  }

  get connections(): number {
    return this.tcp.connections;
  }

  get udpStats(): UdpServer['stats'] {
    return this.udp.stats;
  }

  async close(graceMs?: number): Promise<void> {
    await Promise.all([
      this.listening.tcp ? this.tcp.close(graceMs) : undefined,
      this.listening.udp ? this.udp.close() : undefined,
    ]);
  }

  private serve(conn: Connection): void {
    const session = new EchoSession(this.session, conn);
    // A greeting service speaks first, so it cannot wait for the first byte (SPEC §1.3).
    if (this.framing !== 'auto') session.choose(this.framing);
    else if (this.reply === 'hello') session.choose('raw');
    conn.start(session);
    if (this.reply === 'hello') session.greet();
  }

  private answerDatagram(message: Buffer): Uint8Array | undefined {
    switch (this.reply) {
      case 'upper':
        return upperAsciiInPlace(message); // a datagram buffer is ours alone
      case 'echo':
        return message;
      case 'hello':
        // UDP has no connection to close: `exit` just gets no answer.
        return isExit(message) ? undefined : helloReply(stripLineEnd(message));
    }
  }
}

/** The server's settings every connection reads. */
interface SessionConfig {
  readonly reply: ReplyMode;
  readonly maxFrame: number;
  readonly lineSettleMs: number;
  readonly log: Logger;
}

/**
 * The framed side of one connection: its FrameDecoder, with the reply as the
 * frame handler (`answerFrame`, shared by all connections: the decoder calls
 * it as its own method, so no closure per connection), and its FrameWriter.
 */
class FramedEcho extends FrameDecoder {
  readonly conn: Connection;
  readonly writer: FrameWriter;
  readonly reply: ReplyMode;

  constructor(conn: Connection, byteOrder: 'u32be' | 'u32le', config: SessionConfig) {
    super(answerFrame, { byteOrder, maxFrame: config.maxFrame, recycle: true });
    this.conn = conn;
    this.writer = new FrameWriter(conn, { byteOrder, maxFrame: config.maxFrame });
    this.reply = config.reply;
  }
}

/** Decodes one socket read and writes all its replies at once, when it is done. */
function pushFrames(frames: FramedEcho, chunk: Buffer): void {
  const writer = frames.writer;
  writer.hold();
  try {
    frames.push(chunk);
  } catch (err) {
    writer.release(false); // the connection fails: leave the replies to the usual microtask
    throw err;
  }
  writer.release();
  const assembled = frames.takeAssembled();
  // Its reply was the last view on it; once the kernel has every byte, it may be reused.
  if (assembled !== undefined && frames.conn.pendingWrite === 0) FrameDecoder.recycle(assembled);
}

function answerFrame(this: FramedEcho, payload: Buffer): boolean {
  const reply = this.reply;
  if (reply === 'upper' || reply === 'echo') {
    // The frames of one read are views on one buffer: its word view is made once (upper-ascii.ts).
    const body = reply === 'upper' ? upperAsciiInPlaceOf(payload, this.source) : payload;
    // The reply has the request's length: its header can go where the request's was.
    this.writer.send(body, this.headroom);
  } else if (isExit(payload)) {
    this.writer.flush();
    this.conn.end();
    return false;
  } else this.writer.send(helloReply(payload));
  return true;
}

/**
 * One echo connection's handlers, as methods on one object per connection
 * rather than a set of closures: 10 000 idle connections are a use case
 * (docs/PERFORMANCE.md). The framing is decided by the first byte (`auto`)
 * or up front; then framed connections go to their FramedEcho, raw ones are
 * written back as they come, or, in hello mode, cut into lines.
 */
class EchoSession implements ConnectionHandlers {
  private readonly config: SessionConfig;
  private readonly conn: Connection;
  private decided = false;
  private frames: FramedEcho | undefined;
  private lines: SettlingLines | undefined;

  constructor(config: SessionConfig, conn: Connection) {
    this.config = config;
    this.conn = conn;
  }

  choose(mode: ResolvedFraming): void {
    this.decided = true;
    if (mode !== 'raw') this.frames = new FramedEcho(this.conn, mode, this.config);
    else if (this.config.reply === 'hello') this.lines = this.helloLines();
    this.config.log.debug({ event: 'framing', conn: this.conn.id, framing: mode });
  }

  data(chunk: Buffer): void {
    const frames = this.frames;
    if (frames !== undefined) {
      pushFrames(frames, chunk);
      return;
    }
    if (!this.decided) {
      this.choose(detectFraming(chunk[0] ?? 0, this.config.maxFrame));
      if (this.frames !== undefined) {
        pushFrames(this.frames, chunk);
        return;
      }
    }
    if (this.lines !== undefined) this.lines.push(chunk);
    // Socket chunks are ours alone, so upper-casing in place saves a copy.
    else this.conn.write(this.config.reply === 'upper' ? upperAsciiInPlace(chunk) : chunk);
  }

  end(): void {
    if (this.frames !== undefined) {
      this.frames.end(); // INCOMPLETE if the peer stopped mid-frame
      this.frames.writer.flush();
    } else if (this.lines !== undefined) {
      this.lines.end();
    }
    this.conn.end();
  }

  close(): void {
    this.lines?.cancel();
  }

  inMessage(): boolean {
    if (this.frames !== undefined) return this.frames.inFrame;
    return this.lines !== undefined && this.lines.bufferedBytes > 0;
  }

  notice(error: SockitError): Buffer {
    return notice(error);
  }

  /** The hello-mode welcome, in the connection's framing (called once the framing is known). */
  greet(): void {
    if (!this.decided) return;
    if (this.frames !== undefined) this.frames.writer.send(Buffer.from(WELCOME));
    else this.conn.write(Buffer.from(`${WELCOME}\n`));
  }

  /**
   * Hello mode's lines (#15: the tutorial client sends `b'Michael'` with no
   * newline and waits): a line ended by a pause is answered without a line
   * end, as it came; `exit` closes either way.
   */
  private helloLines(): SettlingLines {
    const conn = this.conn;
    return new SettlingLines(
      (line, terminated) => {
        if (isExit(line)) {
          conn.end();
          return;
        }
        const reply = helloReply(line);
        conn.write(terminated ? Buffer.concat([reply, LINE_END]) : reply);
      },
      { settleMs: this.config.lineSettleMs },
    );
  }
}

import { SockitError } from '../../errors.js';
import { DEFAULT_MAX_FRAME } from '../../limits.js';
import { silentLogger, type Logger } from '../../log.js';
import { FrameDecoder } from '../../protocol/frame-decoder.js';
import { detectFraming, type FramingMode, type ResolvedFraming } from '../../protocol/framing.js';
import { LineDecoder } from '../../protocol/line-decoder.js';
import { encodeTextNotice } from '../../protocol/text-notice.js';
import { formatAddress, type Address } from '../../transport/address.js';
import type { Connection, ConnectionHandlers } from '../../transport/connection.js';
import { FrameWriter } from '../../transport/frame-writer.js';
import { TcpServer, type TcpServerOptions } from '../../transport/tcp-server.js';
import { UdpServer, type UdpServerOptions } from '../../transport/udp-server.js';
import {
  WELCOME,
  helloReply,
  isExit,
  stripLineEnd,
  upperAsciiInPlace,
  type ReplyMode,
} from './messages.js';

export interface EchoServerOptions {
  /** @default 'auto': framed u32be or raw text by the client's first byte */
  framing?: FramingMode;
  /** @default 'upper' */
  reply?: ReplyMode;
  /** @default 16 MiB */
  maxFrame?: number;
  /** TCP limits (connections, timeouts, buffers). */
  tcp?: Omit<TcpServerOptions, 'logger' | 'name' | 'busyNotice'>;
  /** UDP limits (datagram size, rate). */
  udp?: Omit<UdpServerOptions, 'logger' | 'name'>;
  logger?: Logger;
}

export interface EchoListen {
  /** TCP (or Unix socket) address to serve. */
  tcp?: Address;
  /** UDP address to serve. */
  udp?: Address;
}

/** Echo notices are text lines (see protocol/text-notice.ts). */
function notice(error: SockitError): Buffer {
  return encodeTextNotice(error.code, error.message);
}

/**
 * The echo service (SPEC §2.1): framed or raw TCP, told apart by the first
 * byte, and UDP. Each message is answered upper-cased, echoed, or greeted.
 */
export class EchoServer {
  readonly name = 'echo';
  private readonly framing: FramingMode;
  private readonly reply: ReplyMode;
  private readonly maxFrame: number;
  private readonly tcp: TcpServer;
  private readonly udp: UdpServer;
  private readonly log: Logger;
  private listening: { tcp?: Address; udp?: Address } = {};

  constructor(options: EchoServerOptions = {}) {
    this.framing = options.framing ?? 'auto';
    this.reply = options.reply ?? 'upper';
    this.maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
    this.log = (options.logger ?? silentLogger).child({ service: 'echo' });
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
    let handlers: ConnectionHandlers | undefined;
    const choose = (mode: ResolvedFraming): ConnectionHandlers => {
      handlers = mode === 'raw' ? this.rawHandlers(conn) : this.framedHandlers(conn, mode);
      this.log.debug({ event: 'framing', conn: conn.id, framing: mode });
      return handlers;
    };
    // A greeting service speaks first, so it cannot wait for the first byte (SPEC §1.3).
    if (this.framing !== 'auto') choose(this.framing);
    else if (this.reply === 'hello') choose('raw');
    conn.start({
      data: (chunk) => {
        (handlers ?? choose(detectFraming(chunk[0] ?? 0, this.maxFrame))).data(chunk);
      },
      end: () => {
        if (handlers?.end) handlers.end();
        else conn.end();
      },
      inMessage: () => handlers?.inMessage?.() ?? false,
      notice,
    });
    if (this.reply === 'hello' && handlers) this.greet(conn, handlers);
  }

  private greet(
    conn: Connection,
    handlers: ConnectionHandlers & { send?: (b: Uint8Array) => void },
  ): void {
    if (handlers.send) handlers.send(Buffer.from(WELCOME));
    else conn.write(Buffer.from(`${WELCOME}\n`));
  }

  private framedHandlers(
    conn: Connection,
    byteOrder: 'u32be' | 'u32le',
  ): ConnectionHandlers & { send: (b: Uint8Array) => void } {
    const writer = new FrameWriter(conn, { byteOrder, maxFrame: this.maxFrame });
    const reply = this.reply;
    const decoder = new FrameDecoder(
      (payload) => {
        if (reply === 'upper') writer.send(upperAsciiInPlace(payload));
        else if (reply === 'echo') writer.send(payload);
        else if (isExit(payload)) {
          writer.flush();
          conn.end();
          return false;
        } else writer.send(helloReply(payload));
        return true;
      },
      { byteOrder, maxFrame: this.maxFrame },
    );
    return {
      data: (chunk) => {
        decoder.push(chunk);
      },
      end: () => {
        decoder.end(); // INCOMPLETE if the peer stopped mid-frame
        writer.flush();
        conn.end();
      },
      inMessage: () => decoder.inFrame,
      send: (payload) => {
        writer.send(payload);
      },
    };
  }

  private rawHandlers(conn: Connection): ConnectionHandlers {
    if (this.reply !== 'hello') {
      const upper = this.reply === 'upper';
      // Socket chunks are ours alone, so upper-casing in place saves a copy.
      return { data: (chunk) => conn.write(upper ? upperAsciiInPlace(chunk) : chunk) };
    }
    const lines = new LineDecoder((line) => {
      if (isExit(line)) {
        conn.end();
        return;
      }
      conn.write(Buffer.concat([helloReply(line), Buffer.from('\n')]));
    });
    return {
      data: (chunk) => {
        lines.push(chunk);
      },
      end: () => {
        lines.end();
        conn.end();
      },
      inMessage: () => lines.bufferedBytes > 0,
    };
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

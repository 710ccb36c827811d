import { LimitError, ProtocolError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { formatAddress, type Address } from '../../transport/address.js';
import { RateLimiter, type RateLimitOptions } from '../../transport/rate-limiter.js';
import { TcpServer, type TcpServerOptions } from '../../transport/tcp-server.js';
import { UdpServer, type UdpHandler, type UdpServerOptions } from '../../transport/udp-server.js';
import {
  DEFAULT_STRFTIME_FORMAT,
  MAX_STRFTIME_FORMAT,
  encodeRfc868,
  encodeUnix32,
  systemClock,
  type Clock,
} from './messages.js';
import { DEFAULT_SNTP_BURST, DEFAULT_SNTP_RATE_PER_SEC, DEFAULT_SNTP_STRATUM } from './limits.js';
import { MODE_CLIENT, MODE_SERVER, SNTP_PACKET_BYTES, writeNtpTimestamp } from './sntp.js';
import { strftime } from './strftime.js';
import type { Service } from '../common/service.js';

/** Options of the SNTP side of a {@link TimeServer}: stratum, reference id, per-source rate limit. */
export interface SntpServerOptions {
  /**
   * Our stratum. An undisciplined local clock is the last resort of a time
   * network: 10, like ntpd's local-clock driver. @default 10
   */
  stratum?: number;
  /** Reference id (4 ASCII characters). @default 'LOCL' (local clock) */
  referenceId?: string;
  /** Requests per second a source may make before it is told to back off (KoD RATE). @default 1 */
  ratePerSec?: number;
  /** Requests a quiet source may send at once. @default 8 */
  burst?: number;
}

/** Options of {@link TimeServer}: clock, connection limits, logger. */
export interface TimeServerOptions {
  /** The clock served (Unix ms); injectable for tests. @default the system clock */
  clock?: Clock;
  sntp?: SntpServerOptions;
  /** TCP limits for RFC 868 over TCP. */
  tcp?: Omit<TcpServerOptions, 'logger' | 'name'>;
  /** UDP limits for every time port. */
  udp?: Omit<UdpServerOptions, 'logger' | 'name' | 'maxReply'>;
  logger?: Logger;
}

/** Where each time format is served. Any may be omitted. */
export interface TimeListen {
  /** RFC 868 over TCP. */
  rfc868Tcp?: Address;
  /** RFC 868 over UDP. */
  rfc868Udp?: Address;
  unix32?: Address;
  strftime?: Address;
  sntp?: Address;
}

/** Counters of the SNTP side of a {@link TimeServer}. */
export interface SntpStats {
  answered: number;
  kissOfDeath: number;
  malformed: number;
}

/** 0.01 s in 16.16 fixed point. */
const ROOT_DISPERSION = Math.round(0.01 * 65536);
const KISS_RATE = Buffer.from('RATE');

/** Replies up to this size are allowed whatever the request's size (strftime output, bytes). */
const STRFTIME_MAX_REPLY = 512;

/**
 * Estimates the clock's precision as RFC 5905 wants it: log2 of the smallest
 * step the clock takes, in seconds (−20 ≈ 1 µs).
 */
function measurePrecision(clock: Clock): number {
  let smallest = Infinity;
  let last = clock();
  for (let i = 0; i < 2000; i++) {
    const now = clock();
    const step = now - last;
    if (step > 0 && step < smallest) smallest = step;
    last = now;
  }
  if (!Number.isFinite(smallest)) return -10; // a clock that never moved in 2 000 reads: ~1 ms
  return Math.max(-32, Math.min(0, Math.ceil(Math.log2(smallest / 1000))));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A strftime datagram as text; empty means the default format. Not UTF-8: BAD_REQUEST (dropped). */
function decodeFormat(message: Buffer): string {
  if (message.length === 0) return DEFAULT_STRFTIME_FORMAT;
  try {
    return utf8.decode(message);
  } catch (err) {
    throw new ProtocolError('BAD_REQUEST', 'strftime format is not valid UTF-8', { cause: err });
  }
}

/**
 * The time service (SPEC §2.2): RFC 868 on TCP and UDP, unix32, strftime and
 * an SNTP v4 server, each on its own port and each guarded like every sockit
 * UDP port (rate, size, reflection, loops).
 * @example
 * ```ts
 * import { TimeServer } from 'sockit';
 *
 * const at = (port: number) => ({ kind: 'inet', host: '127.0.0.1', port }) as const;
 * const time = new TimeServer();
 * await time.listen({ rfc868Tcp: at(7037), rfc868Udp: at(7037), sntp: at(7123) });
 * console.log(time.addresses); // rdate -p -n -o 7123 127.0.0.1 works against it
 * ```
 */
export class TimeServer implements Service {
  readonly name = 'time';
  readonly sntpStats: SntpStats = { answered: 0, kissOfDeath: 0, malformed: 0 };
  private readonly clock: Clock;
  private readonly options: TimeServerOptions;
  private readonly log: Logger;
  private readonly precision: number;
  private readonly sntpLimiter: RateLimiter;
  private readonly sntpOptions: Required<SntpServerOptions>;
  private readonly tcp: TcpServer;
  private readonly udp: { label: string; server: UdpServer; address: Address }[] = [];
  private tcpAddress: Address | undefined;
  private readonly referenceId: Buffer;

  constructor(options: TimeServerOptions = {}) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? silentLogger).child({ service: 'time' });
    this.precision = measurePrecision(this.clock);
    this.sntpOptions = {
      stratum: options.sntp?.stratum ?? DEFAULT_SNTP_STRATUM,
      referenceId: options.sntp?.referenceId ?? 'LOCL',
      ratePerSec: options.sntp?.ratePerSec ?? DEFAULT_SNTP_RATE_PER_SEC,
      burst: options.sntp?.burst ?? DEFAULT_SNTP_BURST,
    };
    this.referenceId = Buffer.from(
      this.sntpOptions.referenceId.padEnd(4, '\0').slice(0, 4),
      'latin1',
    );
    const limits: RateLimitOptions = {
      ratePerSec: this.sntpOptions.ratePerSec,
      burst: this.sntpOptions.burst,
    };
    this.sntpLimiter = new RateLimiter(limits);
    this.tcp = new TcpServer(
      (conn) => {
        // RFC 868: "send the time as a 32 bit binary number", then close. Whatever the client sends is ignored.
        conn.start({ data: () => undefined, end: () => undefined });
        conn.end(encodeRfc868(this.clock()));
      },
      // A client that keeps its side open after our 4 bytes is not worth minutes.
      {
        idleTimeoutMs: 10_000,
        ...options.tcp,
        name: 'time',
        logger: options.logger ?? silentLogger,
      },
    );
  }

  async listen(where: TimeListen): Promise<TimeListen> {
    const bound: TimeListen = {};
    try {
      if (where.rfc868Tcp) {
        this.tcpAddress = await this.tcp.listen(where.rfc868Tcp);
        bound.rfc868Tcp = this.tcpAddress;
      }
      if (where.rfc868Udp)
        bound.rfc868Udp = await this.listenUdp('rfc868', where.rfc868Udp, () =>
          encodeRfc868(this.clock()),
        );
      if (where.unix32)
        bound.unix32 = await this.listenUdp('unix32', where.unix32, () =>
          encodeUnix32(this.clock()),
        );
      if (where.strftime) {
        bound.strftime = await this.listenUdp(
          'strftime',
          where.strftime,
          (msg) => this.formatTime(msg),
          () => STRFTIME_MAX_REPLY,
        );
      }
      if (where.sntp) {
        bound.sntp = await this.listenUdp(
          'sntp',
          where.sntp,
          (msg, peer) => this.answerSntp(msg, peer.host),
          (n) => n,
        );
      }
    } catch (err) {
      await this.close(0);
      throw err;
    }
    return bound;
  }

  get addresses(): string[] {
    const out: string[] = [];
    if (this.tcpAddress) out.push(`rfc868 tcp ${formatAddress(this.tcpAddress)}`);
    for (const u of this.udp) out.push(`${u.label} udp ${formatAddress(u.address)}`);
    return out;
  }

  /** Per-port UDP counters (received, answered, rateLimited, malformed, …). */
  udpStats(label: 'rfc868' | 'unix32' | 'strftime' | 'sntp'): UdpServer['stats'] | undefined {
    return this.udp.find((u) => u.label === label)?.server.stats;
  }

  async close(graceMs?: number): Promise<void> {
    await Promise.all([
      this.tcpAddress ? this.tcp.close(graceMs) : undefined,
      ...this.udp.map((u) => u.server.close()),
    ]);
    this.udp.length = 0;
  }

  private async listenUdp(
    label: string,
    address: Address,
    handler: UdpHandler,
    maxReply?: (requestBytes: number) => number,
  ): Promise<Address> {
    const server = new UdpServer(handler, {
      ...this.options.udp,
      ...(maxReply ? { maxReply } : {}),
      name: `time-${label}`,
      logger: this.options.logger ?? silentLogger,
    });
    const bound = await server.listen(address);
    this.udp.push({ label, server, address: bound });
    return bound;
  }

  /** strftime: the datagram is a Python-style format; invalid UTF-8 or > 256 bytes is dropped. */
  private formatTime(message: Buffer): Buffer {
    if (message.length > MAX_STRFTIME_FORMAT) {
      throw new LimitError('DATAGRAM_TOO_LARGE', `format of ${message.length} bytes`);
    }
    return Buffer.from(strftime(decodeFormat(message), this.clock()));
  }

  /**
   * RFC 4330 §5 server side. Only a valid client-mode request is answered;
   * anything else is dropped and counted, never answered with garbage. The
   * reply is written field by field into one buffer: this is the hot path of
   * the SNTP port (bench/time.bench.ts).
   */
  private answerSntp(message: Buffer, host: string): Buffer {
    const received = this.clock();
    const first = message[0] ?? 0;
    const version = (first >> 3) & 0x07;
    const mode = first & 0x07;
    if (message.length < SNTP_PACKET_BYTES || mode !== MODE_CLIENT || version < 1 || version > 4) {
      this.sntpStats.malformed++;
      throw new ProtocolError(
        'BAD_HEADER',
        `not an SNTP client request (${message.length} bytes, mode ${mode}, version ${version})`,
      );
    }
    // RFC 5905 §7.4: a source polling too fast gets a Kiss-o'-Death with code RATE.
    const kiss = !this.sntpLimiter.take(host);
    if (kiss) this.sntpStats.kissOfDeath++;
    else this.sntpStats.answered++;
    const reply = Buffer.alloc(SNTP_PACKET_BYTES);
    reply[0] = ((kiss ? 3 : 0) << 6) | (version << 3) | MODE_SERVER;
    reply[1] = kiss ? 0 : this.sntpOptions.stratum;
    reply.writeInt8(Math.max(4, Math.min(17, message.readInt8(2))), 2);
    reply.writeInt8(this.precision, 3);
    // Root delay 0; root dispersion 0.01 s: we vouch for nothing beyond the host's own clock.
    reply.writeUInt32BE(ROOT_DISPERSION, 8);
    (kiss ? KISS_RATE : this.referenceId).copy(reply, 12);
    writeNtpTimestamp(reply, 16, Math.floor(received / 1000) * 1000);
    message.copy(reply, 24, 40, 48); // originate = the request's transmit, bit for bit
    writeNtpTimestamp(reply, 32, received);
    writeNtpTimestamp(reply, 40, this.clock());
    return reply;
  }
}

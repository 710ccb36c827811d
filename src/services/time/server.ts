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
import {
  MODE_CLIENT,
  MODE_SERVER,
  encodeSntpPacket,
  parseSntpPacket,
  toNtpTimestamp,
} from './sntp.js';
import { strftime } from './strftime.js';

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

export interface SntpStats {
  answered: number;
  kissOfDeath: number;
  malformed: number;
}

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

/**
 * The time service (SPEC §2.2): RFC 868 on TCP and UDP, unix32, strftime and
 * an SNTP v4 server, each on its own port and each guarded like every sockit
 * UDP port (rate, size, reflection, loops).
 */
export class TimeServer {
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
      stratum: options.sntp?.stratum ?? 10,
      referenceId: options.sntp?.referenceId ?? 'LOCL',
      ratePerSec: options.sntp?.ratePerSec ?? 1,
      burst: options.sntp?.burst ?? 8,
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
    const format =
      message.length === 0
        ? DEFAULT_STRFTIME_FORMAT
        : new TextDecoder('utf-8', { fatal: true }).decode(message);
    return Buffer.from(strftime(format, this.clock()));
  }

  /**
   * RFC 4330 §5 server side. Only a valid client-mode request is answered;
   * anything else is dropped and counted, never answered with garbage.
   */
  private answerSntp(message: Buffer, host: string): Buffer | undefined {
    const received = this.clock();
    let request;
    try {
      request = parseSntpPacket(message);
      if (request.mode !== MODE_CLIENT || request.version < 1 || request.version > 4) {
        throw new ProtocolError(
          'BAD_HEADER',
          `not a client request (mode ${request.mode}, version ${request.version})`,
        );
      }
    } catch (err) {
      this.sntpStats.malformed++;
      throw err;
    }
    // RFC 5905 §7.4: a source polling too fast gets a Kiss-o'-Death with code RATE.
    const kiss = !this.sntpLimiter.take(host);
    if (kiss) this.sntpStats.kissOfDeath++;
    else this.sntpStats.answered++;
    return encodeSntpPacket({
      leap: kiss ? 3 : 0,
      version: request.version,
      mode: MODE_SERVER,
      stratum: kiss ? 0 : this.sntpOptions.stratum,
      poll: Math.max(4, Math.min(17, request.poll)),
      precision: this.precision,
      rootDelay: 0,
      // We vouch for nothing beyond the host's own clock: a modest, stated dispersion.
      rootDispersion: 0.01,
      referenceId: kiss ? Buffer.from('RATE') : this.referenceId,
      reference: toNtpTimestamp(Math.floor(received / 1000) * 1000),
      originate: request.transmit,
      receive: toNtpTimestamp(received),
      transmit: toNtpTimestamp(this.clock()),
    });
  }
}

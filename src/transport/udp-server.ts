import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { UsageError, fromSystemError } from '../errors.js';
import { DEFAULT_MAX_DATAGRAM } from '../limits.js';
import { silentLogger, type Logger } from '../log.js';
import { formatAddress, normalizeHost, udpFamily, type Address } from './address.js';
import { RateLimiter, type RateLimitOptions } from './rate-limiter.js';

/** The sender of a datagram, and a way to answer it. */
export interface UdpPeer {
  /** The source host, an IPv4-mapped IPv6 address in its IPv4 form. */
  host: string;
  port: number;
}

/**
 * Answers one datagram: the reply to send, or undefined for none. Throwing
 * drops the datagram (it is counted as malformed), never answers garbage.
 */
export type UdpHandler = (message: Buffer, peer: UdpPeer) => Uint8Array | undefined;

/** The default ports of sockit's UDP services (SPEC §2): never answered, so two services cannot ping-pong. */
export const SOCKIT_UDP_PORTS: ReadonlySet<number> = new Set([7007, 7037, 7038, 7039, 7123, 7195]);

/**
 * The ports this process's UDP servers are bound to, whatever they are: two
 * services moved off their default ports (`--port`) must not ping-pong either.
 */
const boundUdpPorts = new Map<number, number>();

function isGuardedPort(port: number): boolean {
  return port < 1024 || SOCKIT_UDP_PORTS.has(port) || boundUdpPorts.has(port);
}

/** Reply bytes allowed beyond the request's own size (ASCII framing like "Hello, …!"). */
const REPLY_SLACK_BYTES = 64;

/** Options of {@link UdpServer}: size bound, rate limit, reflection guards. */
export interface UdpServerOptions {
  /** Larger datagrams are dropped whole, never parsed. @default 65 507 */
  maxDatagram?: number;
  /** Per-source token bucket, or false for none. */
  rateLimit?: RateLimitOptions | false;
  /**
   * Largest reply to a request of `requestBytes`, the reflection guard.
   * @default request size + 64 bytes: no amplification beyond a fixed slack
   */
  maxReply?: (requestBytes: number) => number;
  /** Kernel receive buffer (bytes); the kernel caps it at net.core.rmem_max. */
  recvBufferSize?: number;
  logger?: Logger;
  name?: string;
}

/** Counters of a {@link UdpServer}: datagrams in and out, and why any were dropped. */
export interface UdpServerStats {
  received: number;
  answered: number;
  oversize: number;
  rateLimited: number;
  loopGuarded: number;
  malformed: number;
  replyTooLarge: number;
}

/**
 * A UDP responder guarded against abuse: oversize datagrams, floods from one
 * source, reflection (no reply larger than the request plus a small slack),
 * and loops (no reply to privileged ports or to sockit's own service ports,
 * where another echo-style service would answer back; CVE-2024-2169).
 */
export class UdpServer {
  readonly stats: UdpServerStats = {
    received: 0,
    answered: 0,
    oversize: 0,
    rateLimited: 0,
    loopGuarded: 0,
    malformed: 0,
    replyTooLarge: 0,
  };
  private socket: Socket | undefined;
  private readonly handler: UdpHandler;
  private readonly options: UdpServerOptions;
  private readonly limiter: RateLimiter | undefined;
  private readonly maxDatagram: number;
  private readonly maxReply: (requestBytes: number) => number;
  private readonly log: Logger;
  private bound: Address | undefined;

  constructor(handler: UdpHandler, options: UdpServerOptions = {}) {
    this.handler = handler;
    this.options = options;
    this.maxDatagram = options.maxDatagram ?? DEFAULT_MAX_DATAGRAM;
    this.maxReply = options.maxReply ?? ((n) => n + REPLY_SLACK_BYTES);
    this.limiter =
      options.rateLimit === false ? undefined : new RateLimiter(options.rateLimit ?? {});
    this.log = (options.logger ?? silentLogger).child({ service: options.name ?? 'udp' });
  }

  get address(): Address {
    if (!this.bound) throw new UsageError('INVALID_STATE', 'server is not listening');
    return this.bound;
  }

  async listen(address: Address): Promise<Address> {
    if (address.kind !== 'inet') {
      throw new UsageError(
        'BAD_ADDRESS',
        'UDP services need a host:port address, not a Unix socket',
      );
    }
    // No reuseAddr: a second process must not be able to bind the port and steal datagrams.
    const socket = createSocket({ type: udpFamily(address.host), reuseAddr: false });
    this.socket = socket;
    socket.on('message', (msg, rinfo) => {
      this.onMessage(socket, msg, rinfo);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => {
        reject(fromSystemError(err, `listen on udp ${formatAddress(address)}`));
      });
      socket.bind({ address: address.host, port: address.port, exclusive: true }, () => {
        socket.removeAllListeners('error');
        resolve();
      });
    });
    socket.on('error', (err) => {
      this.log.warn({ event: 'udp_error', err: fromSystemError(err, 'udp').message });
    });
    if (this.options.recvBufferSize !== undefined)
      socket.setRecvBufferSize(this.options.recvBufferSize);
    this.bound = { kind: 'inet', host: address.host, port: socket.address().port };
    boundUdpPorts.set(this.bound.port, (boundUdpPorts.get(this.bound.port) ?? 0) + 1);
    this.log.info({
      event: 'listening',
      address: `udp ${formatAddress(this.bound)}`,
      recvBufferSize: socket.getRecvBufferSize(),
    });
    return this.bound;
  }

  async close(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.socket = undefined;
    if (this.bound?.kind === 'inet') {
      const port = this.bound.port;
      const count = (boundUdpPorts.get(port) ?? 1) - 1;
      if (count > 0) boundUdpPorts.set(port, count);
      else boundUdpPorts.delete(port);
    }
    await new Promise<void>((resolve) => {
      socket.close(() => {
        resolve();
      });
    });
    this.log.info({ event: 'closed', stats: this.stats });
  }

  private onMessage(socket: Socket, msg: Buffer, rinfo: RemoteInfo): void {
    this.stats.received++;
    if (msg.length > this.maxDatagram) {
      this.stats.oversize++;
      return;
    }
    if (isGuardedPort(rinfo.port)) {
      this.stats.loopGuarded++;
      return;
    }
    const host = normalizeHost(rinfo.address);
    if (this.limiter && !this.limiter.take(host)) {
      this.stats.rateLimited++;
      return;
    }
    let reply: Uint8Array | undefined;
    try {
      reply = this.handler(msg, { host, port: rinfo.port });
    } catch {
      this.stats.malformed++;
      return;
    }
    if (reply === undefined) return;
    if (reply.length > this.maxReply(msg.length)) {
      this.stats.replyTooLarge++;
      return;
    }
    this.stats.answered++;
    // No per-send callback (it costs on every reply): a failed send reaches the socket's 'error' listener.
    socket.send(reply, rinfo.port, rinfo.address);
  }
}

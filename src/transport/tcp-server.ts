import { createServer, type Server, type Socket } from 'node:net';
import { LimitError, SockitError, fromSystemError } from '../errors.js';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_GRACE_MS } from '../limits.js';
import { silentLogger, type Logger } from '../log.js';
import { formatAddress, formatPeer, normalizeHost, type Address } from './address.js';
import { Connection, type CloseInfo, type ConnectionLimits } from './connection.js';
import { prepareUnixPath, restrictUnixSocket } from './unix-socket.js';

export interface TcpServerOptions extends Partial<ConnectionLimits> {
  /** Connections served at once; the next gets BUSY and is closed. @default 10 000 */
  maxConnections?: number;
  /** A graceful close waits this long for connections before cutting them (ms). @default 5 000 */
  shutdownGraceMs?: number;
  /** Bytes for a client refused as BUSY (the service's error format). */
  busyNotice?: (error: SockitError) => Buffer | undefined;
  /**
   * Whether a TCP peer may connect (an --allow/--deny list). A refused peer
   * is closed at once, before it counts against maxConnections, and is sent
   * nothing. Not asked for Unix-socket peers, which have no address.
   */
  allowPeer?: (host: string, port: number) => boolean;
  /** Told of every peer refused (ACCESS_DENIED, BUSY, SHUTTING_DOWN), after it is logged. */
  onRefused?: (remote: string, error: SockitError) => void;
  logger?: Logger;
  /** Name used in logs. */
  name?: string;
}

/**
 * Beyond maxConnections we still accept briefly to send BUSY; past this many
 * more, the kernel-level cap drops connections without a word, so a flood
 * cannot exhaust file descriptors.
 */
const BUSY_SLACK = 64;

/**
 * A TCP or Unix-socket listener that hands each accepted socket, wrapped in a
 * bounded Connection, to `onConnection`.
 */
export class TcpServer {
  private readonly server: Server;
  private readonly options: TcpServerOptions;
  private readonly log: Logger;
  private readonly live = new Set<Connection>();
  private readonly maxConnections: number;
  private bound: Address | undefined;
  private closing: Promise<void> | undefined;

  constructor(onConnection: (connection: Connection) => void, options: TcpServerOptions = {}) {
    this.options = options;
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.log = (options.logger ?? silentLogger).child({ service: options.name ?? 'tcp' });
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => {
      this.accept(socket, onConnection);
    });
    this.server.maxConnections = this.maxConnections + BUSY_SLACK;
    this.server.on('drop', (info) => {
      this.log.warn(
        { event: 'drop', remote: formatPeer(info?.remoteAddress, info?.remotePort) },
        'connection dropped at the hard limit',
      );
    });
    // An accept() failure (EMFILE…) must not take the server down; libuv retries.
    this.server.on('error', (err) => {
      this.log.error({ event: 'server_error', err: fromSystemError(err, 'accept').message });
    });
  }

  /** Connections being served now. */
  get connections(): number {
    return this.live.size;
  }

  /** The bound address, with the real port when 0 was asked for. */
  get address(): Address {
    if (!this.bound) throw new Error('server is not listening');
    return this.bound;
  }

  async listen(address: Address): Promise<Address> {
    if (address.kind === 'unix') await prepareUnixPath(address.path);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(fromSystemError(err, `listen on ${formatAddress(address)}`));
      };
      this.server.once('error', onError);
      const done = (): void => {
        this.server.off('error', onError);
        resolve();
      };
      if (address.kind === 'unix') this.server.listen({ path: address.path }, done);
      else this.server.listen({ host: address.host, port: address.port }, done);
    });
    if (address.kind === 'unix') {
      await restrictUnixSocket(address.path);
      this.bound = address;
    } else {
      const info = this.server.address();
      const port = typeof info === 'object' && info !== null ? info.port : address.port;
      this.bound = { kind: 'inet', host: address.host, port };
    }
    this.log.info({ event: 'listening', address: formatAddress(this.bound) });
    return this.bound;
  }

  /**
   * Stops accepting at once, lets open connections finish for
   * `graceMs`, then closes the rest. Resolves when every socket is closed.
   */
  close(graceMs = this.options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => {
        resolve();
      });
    });
    for (const conn of this.live) conn.end();
    const timer = setTimeout(() => {
      for (const conn of this.live)
        conn.fail(new LimitError('SHUTTING_DOWN', 'server is shutting down'));
    }, graceMs);
    // net.Server reports 'close' before its sockets emit theirs: wait for both.
    await Promise.all([stopped, ...[...this.live].map((conn) => conn.whenClosed)]);
    clearTimeout(timer);
    if (this.bound) this.log.info({ event: 'closed', address: formatAddress(this.bound) });
  }

  private accept(socket: Socket, onConnection: (connection: Connection) => void): void {
    const remote = formatPeer(socket.remoteAddress, socket.remotePort);
    if (!this.allowed(socket)) {
      this.log.warn({ event: 'refused', remote, code: 'ACCESS_DENIED' });
      socket.on('error', () => undefined);
      socket.destroy();
      this.options.onRefused?.(remote, new LimitError('ACCESS_DENIED', 'not allowed to connect'));
      return;
    }
    const conn = new Connection(socket, remote, this.options);
    if (this.closing || this.live.size >= this.maxConnections) {
      const error = this.closing
        ? new LimitError('SHUTTING_DOWN', 'server is shutting down')
        : new LimitError('BUSY', `server is at its limit of ${this.maxConnections} connections`);
      this.log.warn({ event: 'refused', conn: conn.id, remote, code: error.code });
      const notice = this.options.busyNotice?.(error);
      conn.start({ data: () => undefined, notice: () => notice });
      conn.fail(error);
      this.options.onRefused?.(remote, error);
      return;
    }
    this.live.add(conn);
    this.log.info({ event: 'connect', conn: conn.id, remote });
    conn.onClosed((info) => {
      this.forget(conn, info);
    });
    onConnection(conn);
  }

  private allowed(socket: Socket): boolean {
    const allowPeer = this.options.allowPeer;
    if (!allowPeer || this.bound?.kind === 'unix') return true;
    // A peer gone before we looked has no address: refused, the list cannot vouch for it.
    const host = socket.remoteAddress;
    return host !== undefined && allowPeer(normalizeHost(host), socket.remotePort ?? 0);
  }

  private forget(conn: Connection, info: CloseInfo): void {
    this.live.delete(conn);
    const fields = {
      event: 'close',
      conn: conn.id,
      remote: conn.remote,
      bytesIn: info.bytesRead,
      bytesOut: info.bytesWritten,
      durationMs: info.durationMs,
    };
    if (info.error) this.log.info({ ...fields, code: info.error.code, reason: info.error.message });
    else this.log.info(fields);
  }
}

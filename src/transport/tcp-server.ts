import { createServer, type Server, type Socket } from 'node:net';
import { LimitError, ProtocolError, SockitError, fromSystemError, UsageError } from '../errors.js';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_GRACE_MS } from '../limits.js';
import { silentLogger, type Logger } from '../log.js';
import { formatAddress, formatPeer, normalizeHost, type Address } from './address.js';
import { type CloseInfo, type Connection, type ConnectionLimits } from './connection.js';
import { SocketConnection } from './socket-connection.js';
import {
  DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
  TLS_HANDSHAKE_BYTE,
  secureContext,
  wrapServerSocket,
  type TlsServerConfig,
} from './tls.js';
import { prepareUnixPath, restrictUnixSocket } from './unix-socket.js';
import { TLSSocket, type SecureContext } from 'node:tls';

/** Options of {@link TcpServer}: connection limits, the BUSY notice, TLS, access rules, logger. */
export interface TcpServerOptions extends Partial<ConnectionLimits> {
  /** Connections served at once; the next gets BUSY and is closed. @default 10 000 */
  maxConnections?: number;
  /** A graceful close waits this long for connections before cutting them (ms). @default 5 000 */
  shutdownGraceMs?: number;
  /**
   * Bytes for a client refused before it is served (BUSY, SHUTTING_DOWN, and
   * NOT_TLS for a plain client on a TLS port), in the service's error format.
   */
  busyNotice?: (error: SockitError) => Buffer | undefined;
  /**
   * Serve TLS (1.2+, ALPN sockit/1) instead of plain TCP. Services do not
   * change: they get a Connection over the TLS socket. A client whose first
   * byte is not a TLS handshake gets a NOT_TLS notice in clear and a close.
   */
  tls?: TlsServerConfig;
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
 * On a TLS port, how long to wait for the ClientHello before deciding the
 * client is plain TCP waiting for us to speak (ms). A TLS client sends it
 * right after connecting, one network trip after the accept.
 */
const FIRST_BYTE_TIMEOUT_MS = 2_000;

/**
 * A TCP or Unix-socket listener that hands each accepted socket, wrapped in a
 * bounded Connection, to `onConnection`.
 * @example
 * ```ts
 * import { FrameDecoder, FrameWriter, TcpServer, encodeTextNotice } from 'sockit';
 *
 * // A framed echo on the bare transport: every bound of a Connection applies.
 * const server = new TcpServer((conn) => {
 *   const writer = new FrameWriter(conn);
 *   const decoder = new FrameDecoder((payload) => writer.send(payload));
 *   conn.start({
 *     data: (chunk) => decoder.push(chunk),
 *     inMessage: () => decoder.inFrame,
 *     notice: (error) => encodeTextNotice(error.code, error.message),
 *   });
 * });
 * console.log(await server.listen({ kind: 'inet', host: '127.0.0.1', port: 0 }));
 * ```
 */
export class TcpServer {
  private readonly server: Server;
  private readonly options: TcpServerOptions;
  private readonly log: Logger;
  private readonly live = new Set<Connection>();
  private readonly maxConnections: number;
  private readonly tlsContext: SecureContext | undefined;
  /** TLS handshakes under way: they hold a socket, so they count against maxConnections. */
  private handshaking = 0;
  private bound: Address | undefined;
  private closing: Promise<void> | undefined;

  constructor(onConnection: (connection: Connection) => void, options: TcpServerOptions = {}) {
    this.options = options;
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.tlsContext = options.tls ? secureContext(options.tls) : undefined;
    this.log = (options.logger ?? silentLogger).child({ service: options.name ?? 'tcp' });
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => {
      if (this.tlsContext) this.acceptTls(socket, this.tlsContext, onConnection);
      else this.accept(socket, onConnection);
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
    if (!this.bound) throw new UsageError('INVALID_STATE', 'server is not listening');
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

  /**
   * Reads the first byte: a TLS handshake record is wrapped and, once the
   * handshake is done, accepted as usual; anything else is a plain client on
   * a TLS port and gets a one-line notice in clear instead of a hang.
   */
  private acceptTls(
    socket: Socket,
    context: SecureContext,
    onConnection: (connection: Connection) => void,
  ): void {
    const remote = formatPeer(socket.remoteAddress, socket.remotePort);
    socket.on('error', () => undefined);
    if (!this.allowed(socket)) {
      this.accept(socket, onConnection); // refused there, with the usual log line
      return;
    }
    if (this.handshaking + this.live.size >= this.maxConnections + BUSY_SLACK) {
      socket.destroy();
      return;
    }
    this.handshaking++;
    let settled = false;
    const done = (): boolean => {
      if (settled) return false;
      settled = true;
      this.handshaking--;
      clearTimeout(timer);
      return true;
    };
    const timeoutMs = this.options.tls?.handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS;
    const timer = setTimeout(() => {
      if (!done()) return;
      this.log.warn({ event: 'refused', remote, code: 'TLS_ERROR', reason: 'handshake timeout' });
      socket.destroy();
    }, timeoutMs);
    const notTls = (): void => {
      if (!done()) return;
      const error = new ProtocolError('NOT_TLS', 'this port speaks TLS: connect with --tls');
      this.log.warn({ event: 'refused', remote, code: error.code });
      const notice = this.options.busyNotice?.(error);
      if (notice) socket.end(notice);
      else socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    };
    // A TLS client speaks first, at once. Silence means a plain client waiting
    // for a greeting (exec, files): tell it, rather than let both sides wait.
    const silence = setTimeout(notTls, FIRST_BYTE_TIMEOUT_MS);
    socket.once('close', () => {
      clearTimeout(silence);
      done();
    });
    socket.once('data', (first: Buffer) => {
      clearTimeout(silence);
      socket.pause();
      if (first[0] !== TLS_HANDSHAKE_BYTE) {
        notTls();
        return;
      }
      socket.unshift(first);
      const secure = wrapServerSocket(socket, context);
      secure.on('error', (err: Error) => {
        if (!done()) return;
        this.log.warn({ event: 'refused', remote, code: 'TLS_ERROR', reason: err.message });
        secure.destroy();
      });
      secure.once('secure', () => {
        if (!done()) return;
        this.accept(secure, onConnection);
      });
    });
  }

  private accept(socket: Socket, onConnection: (connection: Connection) => void): void {
    const remote = formatPeer(socket.remoteAddress, socket.remotePort);
    if (!this.allowed(socket)) {
      this.log.warn({ event: 'refused', remote, code: 'ACCESS_DENIED' });
      socket.on('error', () => undefined);
      // A reset, like a firewall's reject: a plain close would race the
      // client's first bytes, so it would see either a clean EOF or a reset.
      // Node can reset only a plain TCP handle; a TLS socket (refused after
      // its handshake, e.g. a peer gone before we looked) is closed instead.
      if (socket instanceof TLSSocket) socket.destroy();
      else socket.resetAndDestroy();
      this.options.onRefused?.(remote, new LimitError('ACCESS_DENIED', 'not allowed to connect'));
      return;
    }
    const conn = new SocketConnection(socket, remote, this.options);
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
    conn.onClosed(this.forgetClosed); // one listener for every connection, not a closure each
    onConnection(conn);
  }

  private allowed(socket: Socket): boolean {
    const allowPeer = this.options.allowPeer;
    if (!allowPeer || this.bound?.kind === 'unix') return true;
    // A peer gone before we looked has no address: refused, the list cannot vouch for it.
    const host = socket.remoteAddress;
    return host !== undefined && allowPeer(normalizeHost(host), socket.remotePort ?? 0);
  }

  private readonly forgetClosed = (info: CloseInfo, conn: Connection): void => {
    this.forget(conn, info);
  };

  private forget(conn: Connection, info: CloseInfo): void {
    this.live.delete(conn);
    const error = info.error;
    // Object literals, no spread: this runs for every connection (bench:echo accept row).
    if (error === undefined) {
      this.log.info({
        event: 'close',
        conn: conn.id,
        remote: conn.remote,
        bytesIn: info.bytesRead,
        bytesOut: info.bytesWritten,
        durationMs: info.durationMs,
      });
    } else {
      this.log.info({
        event: 'close',
        conn: conn.id,
        remote: conn.remote,
        bytesIn: info.bytesRead,
        bytesOut: info.bytesWritten,
        durationMs: info.durationMs,
        code: error.code,
        reason: error.message,
      });
    }
  }
}

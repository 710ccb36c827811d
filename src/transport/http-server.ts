import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { fromSystemError, UsageError } from '../errors.js';
import { DEFAULT_SHUTDOWN_GRACE_MS } from '../limits.js';
import { silentLogger, type Logger } from '../log.js';
import { formatAddress, formatPeer, type Address } from './address.js';
import type { TlsServerConfig } from './tls.js';
import { prepareUnixPath, restrictUnixSocket } from './unix-socket.js';

/** How long a client may take to send its request headers (ms). */
export const DEFAULT_HTTP_HEADERS_TIMEOUT_MS = 10_000;

/** Sockets an HTTP server holds at once (page loads and upgraded WebSockets together). */
export const DEFAULT_HTTP_MAX_SOCKETS = 10_064;

export interface HttpServerOptions {
  /** Serve HTTPS (and so wss) instead of HTTP, on the same port. */
  tls?: TlsServerConfig;
  /** A request's headers must arrive within this (ms). @default 10 000 */
  headersTimeoutMs?: number;
  /** Sockets at once; the kernel-level cap past which Node drops new ones. @default 10 064 */
  maxSockets?: number;
  /** A graceful close waits this long before cutting what is left (ms). @default 5 000 */
  shutdownGraceMs?: number;
  logger?: Logger;
  name?: string;
}

export interface HttpHandlers {
  request(req: IncomingMessage, res: ServerResponse): void;
  /** An `Upgrade:` request; the socket is the handler's from here (see websocket.ts). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** `127.0.0.1:53122`: who sent a request, for logs. */
export function requestPeer(req: IncomingMessage): string {
  return formatPeer(req.socket.remoteAddress, req.socket.remotePort);
}

/**
 * A node:http (or node:https) server on an Address, with the bounds every
 * sockit listener has: a headers deadline (slowloris), a socket cap, and a
 * graceful close that cuts what is left after the grace period.
 */
export class HttpServer {
  /** Created in listen(): node:http and node:https are loaded only by a process that serves HTTP (heap budget). */
  private server: Server | undefined;
  private readonly handlers: HttpHandlers;
  private readonly options: HttpServerOptions;
  private readonly log: Logger;
  private readonly graceMs: number;
  /** Sockets taken over by an upgrade: node:http no longer tracks them. */
  private readonly upgraded = new Set<Duplex>();
  private bound: Address | undefined;
  private closing: Promise<void> | undefined;

  constructor(handlers: HttpHandlers, options: HttpServerOptions = {}) {
    this.handlers = handlers;
    this.options = options;
    this.log = (options.logger ?? silentLogger).child({ service: options.name ?? 'http' });
    this.graceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
  }

  private async create(): Promise<Server> {
    const { handlers, options } = this;
    const common = {
      headersTimeout: options.headersTimeoutMs ?? DEFAULT_HTTP_HEADERS_TIMEOUT_MS,
      requestTimeout: 30_000,
      keepAliveTimeout: 5_000,
      // A page makes a few requests; nothing here takes a body.
      maxHeaderSize: 16 * 1024,
    };
    const server: Server = options.tls
      ? (await import('node:https')).createServer({
          ...common,
          cert: options.tls.cert,
          key: options.tls.key,
        })
      : (await import('node:http')).createServer(common);
    server.maxConnections = options.maxSockets ?? DEFAULT_HTTP_MAX_SOCKETS;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      handlers.request(req, res);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Every socket has an 'error' listener: a reset must never reach the process.
      socket.on('error', () => undefined);
      this.upgraded.add(socket);
      socket.once('close', () => this.upgraded.delete(socket));
      handlers.upgrade(req, socket, head);
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      this.log.debug({ event: 'client_error', code: err.code });
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
      this.log.debug({ event: 'tls_error', code: err.code });
    });
    server.on('error', (err) => {
      this.log.error({ event: 'server_error', err: fromSystemError(err, 'accept').message });
    });
    return server;
  }

  /** The bound address, with the real port when 0 was asked for. */
  get address(): Address {
    if (!this.bound) throw new UsageError('INVALID_STATE', 'server is not listening');
    return this.bound;
  }

  async listen(address: Address): Promise<Address> {
    if (this.server) throw new UsageError('INVALID_STATE', 'already listening');
    const server = await this.create();
    this.server = server;
    if (address.kind === 'unix') await prepareUnixPath(address.path);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(fromSystemError(err, `listen on ${formatAddress(address)}`));
      };
      server.once('error', onError);
      const done = (): void => {
        server.off('error', onError);
        resolve();
      };
      if (address.kind === 'unix') server.listen({ path: address.path }, done);
      else server.listen({ host: address.host, port: address.port }, done);
    });
    if (address.kind === 'unix') {
      await restrictUnixSocket(address.path);
      this.bound = address;
    } else {
      const info = server.address();
      const port = typeof info === 'object' && info !== null ? info.port : address.port;
      this.bound = { kind: 'inet', host: address.host, port };
    }
    this.log.info({ event: 'listening', address: formatAddress(this.bound) });
    return this.bound;
  }

  /**
   * Stops accepting, closes idle keep-alive sockets at once, and after
   * `graceMs` every socket left (upgraded ones are the caller's to close
   * first, with a WebSocket close frame). Resolves when all are closed.
   */
  close(graceMs = this.graceMs): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    const server = this.server;
    if (!server?.listening) return;
    const closed = new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    server.closeIdleConnections();
    const timer = setTimeout(() => {
      server.closeAllConnections();
      for (const socket of this.upgraded) socket.destroy();
    }, graceMs);
    await closed;
    await Promise.all(
      [...this.upgraded].map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.destroyed) resolve();
            else socket.once('close', resolve);
          }),
      ),
    );
    clearTimeout(timer);
    if (this.bound) this.log.info({ event: 'closed', address: formatAddress(this.bound) });
  }
}

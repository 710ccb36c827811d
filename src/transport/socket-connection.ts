import type { Socket } from 'node:net';
import { LimitError, SockitError, fromSystemError, InternalError, UsageError } from '../errors.js';
import { normalizeHost } from './address.js';
import {
  DEFAULT_CONNECTION_LIMITS,
  type CloseInfo,
  type Connection,
  type ConnectionHandlers,
  type ConnectionLimits,
} from './connection.js';

/**
 * The limits with the defaults filled in field by field (a field given as
 * `undefined` takes its default), as an object of one fixed shape. Keeping
 * `{ ...DEFAULTS, ...limits }` itself would also keep a server's other
 * options (logger, name, …) and, once V8's spread IC is warm, give every
 * connection an object with its own hidden class: about 300 B more per
 * connection (measured in bench/, 10 000 idle connections) and megamorphic
 * property reads on every event.
 */
function resolveLimits(
  limits: Partial<ConnectionLimits>,
  defaults: Readonly<ConnectionLimits>,
): ConnectionLimits {
  return {
    idleTimeoutMs: limits.idleTimeoutMs ?? defaults.idleTimeoutMs,
    messageTimeoutMs: limits.messageTimeoutMs ?? defaults.messageTimeoutMs,
    maxPendingWrite: limits.maxPendingWrite ?? defaults.maxPendingWrite,
    writeTimeoutMs: limits.writeTimeoutMs ?? defaults.writeTimeoutMs,
    pauseReadingWhileBlocked: limits.pauseReadingWhileBlocked ?? defaults.pauseReadingWhileBlocked,
  };
}

/** How long a notice may take to flush before the socket is destroyed anyway (ms). */
const NOTICE_GRACE_MS = 1_000;

let nextId = 1;

/** Where a socket's shared listeners find their Connection (see the constructor). */
const kConnection = Symbol('sockit.connection');

type OwnedSocket = Socket & { [kConnection]?: SocketConnection };

type CloseListener = (info: CloseInfo, connection: Connection) => void;

/** The Connection a socket event belongs to (`this` of a shared listener). */
function ownerOf(socket: Socket): SocketConnection {
  const owner = (socket as OwnedSocket)[kConnection];
  if (owner === undefined) throw new InternalError('socket has no connection'); // unreachable
  return owner;
}

// The socket listeners, shared by every connection: `this` is the socket.
// (Bracket access reaches the Connection's private handlers from here.)
function onSocketEnd(this: Socket): void {
  ownerOf(this)['onEnd']();
}
function onSocketTimeout(this: Socket): void {
  const conn = ownerOf(this);
  conn.fail(new LimitError('IDLE_TIMEOUT', `no traffic for ${conn.limits.idleTimeoutMs} ms`));
}
function onSocketDrain(this: Socket): void {
  ownerOf(this)['onDrain']();
}
function onSocketError(this: Socket, err: Error): void {
  ownerOf(this)['onError'](err);
}
function onSocketClose(this: Socket): void {
  ownerOf(this)['onClose']();
}
function onSocketData(this: Socket, chunk: Buffer): void {
  ownerOf(this)['onData'](chunk);
}

/**
 * One TCP or Unix-socket connection with every socket event handled in one
 * place, so a peer can never crash the process and every bound is enforced:
 * - `error` always has a listener (Node throws an unhandled socket error).
 * - `setTimeout` only emits 'timeout'; the idle timeout here destroys.
 * - A message deadline closes peers that start a message and trickle it (slowloris).
 * - `write()` returning false pauses our reading (backpressure both ways);
 *   output over `maxPendingWrite` or not drained within `writeTimeoutMs` is a
 *   SLOW_CONSUMER.
 * - allowHalfOpen is on: a peer's FIN is reported, and we decide when to end.
 *
 * Memory per connection matters (a server holds 10 000 idle ones): the socket
 * listeners are functions shared by every connection, which find theirs
 * through the socket (`this` of a listener is the socket), instead of six
 * closures per connection; `whenClosed` and the close-listener list are
 * created when first asked for. About 0.6 KiB less per connection than
 * closures and eager promises (measured in bench/, heap snapshots).
 */
export class SocketConnection implements Connection {
  readonly id = nextId++;
  readonly remote: string;
  /** Transport-internal: services see the {@link Connection} interface only. */
  readonly socket: Socket;
  readonly limits: ConnectionLimits;
  private handlers: ConnectionHandlers | undefined;
  private readonly startedAt = performance.now();
  private error: SockitError | undefined;
  private messageTimer: NodeJS.Timeout | undefined;
  private writeTimer: NodeJS.Timeout | undefined;
  private pausedForOutput = false;
  private pausedByUser = false;
  private closed = false;
  /** How the connection ended, once it has. */
  private closeInfo: CloseInfo | undefined;
  /** One listener as is, more as a list (most connections have exactly one: the server's). */
  private closeListeners: CloseListener | CloseListener[] | undefined;
  private closedPromise: Promise<CloseInfo> | undefined;
  private resolveClosed: ((info: CloseInfo) => void) | undefined;

  constructor(
    socket: Socket,
    remote: string,
    limits: Partial<ConnectionLimits> = {},
    defaults: Readonly<ConnectionLimits> = DEFAULT_CONNECTION_LIMITS,
  ) {
    this.socket = socket;
    this.remote = remote;
    this.limits = resolveLimits(limits, defaults);
    (socket as OwnedSocket)[kConnection] = this;
    socket.setNoDelay(true);
    if (this.limits.idleTimeoutMs > 0) socket.setTimeout(this.limits.idleTimeoutMs);
    socket.on('end', onSocketEnd);
    socket.on('timeout', onSocketTimeout);
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  get remoteHost(): string {
    // Read while open: Node forgets the address once the socket is destroyed.
    const host = this.socket.remoteAddress;
    return host === undefined ? 'unix' : normalizeHost(host);
  }

  get whenClosed(): Promise<CloseInfo> {
    if (this.closedPromise === undefined) {
      const info = this.closeInfo;
      this.closedPromise =
        info === undefined
          ? new Promise<CloseInfo>((resolve) => {
              this.resolveClosed = resolve;
            })
          : Promise.resolve(info);
    }
    return this.closedPromise;
  }

  /**
   * Starts delivering events. Nothing is lost before this: a socket without a
   * 'data' listener does not read.
   */
  start(handlers: ConnectionHandlers): void {
    if (this.handlers) throw new UsageError('INVALID_STATE', 'connection already started');
    this.handlers = handlers;
    this.socket.on('data', onSocketData);
  }

  get isClosed(): boolean {
    return this.closed || this.socket.destroyed;
  }

  /** Bytes queued in user space for the peer. */
  get pendingWrite(): number {
    return this.socket.writableLength;
  }

  /**
   * Queues bytes for the peer. Returns false when the caller should stop
   * producing until `drain` (reading from the peer is paused meanwhile).
   */
  write(data: Uint8Array): boolean {
    if (this.isClosed || this.socket.writableEnded) return false;
    const ok = this.socket.write(data);
    if (!ok) this.onBackpressure();
    return ok;
  }

  /** Writes several buffers with one system call (cork/uncork → writev). */
  writev(chunks: readonly Uint8Array[]): boolean {
    if (chunks.length === 1) return this.write(chunks[0] as Uint8Array);
    if (this.isClosed || this.socket.writableEnded) return false;
    this.socket.cork();
    let ok = true;
    for (const chunk of chunks) ok = this.socket.write(chunk);
    this.socket.uncork();
    if (!ok) this.onBackpressure();
    return ok;
  }

  /** Resolves when queued output has drained (or the connection closed). */
  async drained(): Promise<void> {
    if (!this.socket.writableNeedDrain || this.isClosed) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /**
   * Resolves once our side has been ended and every queued byte, then the FIN,
   * has been handed to the OS (or the connection closed). A relay's linger
   * starts from here, so quitting never drops bytes it was given.
   */
  async finished(): Promise<void> {
    if (this.socket.writableFinished || this.isClosed) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('finish', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('finish', done);
      this.socket.on('close', done);
    });
  }

  /**
   * Calls `listener` synchronously when the socket closes (after the handler's
   * `close`), with this connection as its second argument.
   */
  onClosed(listener: (info: CloseInfo, connection: Connection) => void): void {
    const listeners = this.closeListeners;
    if (listeners === undefined) this.closeListeners = listener;
    else if (typeof listeners === 'function') this.closeListeners = [listeners, listener];
    else listeners.push(listener);
  }

  /**
   * Turns the idle timeout off (0) or back on, e.g. while a remote command
   * runs silently for longer than a connection may normally idle.
   */
  setIdleTimeout(ms: number): void {
    if (!this.isClosed) this.socket.setTimeout(ms);
  }

  setKeepAlive(ms: number): void {
    if (!this.isClosed) this.socket.setKeepAlive(true, ms);
  }

  pause(): void {
    this.pausedByUser = true;
    this.socket.pause();
  }

  resume(): void {
    this.pausedByUser = false;
    if (!this.pausedForOutput && !this.isClosed) this.socket.resume();
  }

  /** Finishes our side after queued output; the socket closes when the peer has finished too. */
  end(data?: Uint8Array): void {
    if (this.isClosed || this.socket.writableEnded) return;
    if (data) this.socket.end(data);
    else this.socket.end();
  }

  /**
   * Closes the connection because of `error`: sends the peer a notice in its
   * format if the handler has one, then closes. Safe to call more than once.
   */
  fail(error: SockitError): void {
    if (this.isClosed) return;
    this.error ??= error;
    const notice = this.socket.writableEnded ? undefined : this.handlers?.notice?.(error);
    if (notice === undefined || error.code === 'SLOW_CONSUMER') {
      this.socket.destroy();
      return;
    }
    this.socket.end(notice);
    // A peer that never reads would keep the notice (and the socket) forever.
    setTimeout(() => this.socket.destroy(), NOTICE_GRACE_MS).unref();
  }

  /** Closes at once, without a notice. */
  destroy(error?: SockitError): void {
    if (error) this.error ??= error;
    this.socket.destroy();
  }

  private onError(err: Error): void {
    if (this.error !== undefined) return;
    // A socket error comes from the event loop, so a stack trace would say
    // nothing; capturing one cost about 3 µs per reset connection (a peer's
    // RST, the common way a client goes; bench:echo accept row). The OS error
    // keeps its own as `cause`.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      this.error = fromSystemError(err, `connection ${this.remote}`);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  private onData(chunk: Buffer): void {
    const handlers = this.handlers;
    if (!handlers || this.closed) return;
    try {
      handlers.data(chunk);
    } catch (err) {
      this.fail(err instanceof SockitError ? err : fromSystemError(err, 'handler'));
      return;
    }
    this.armMessageTimer(handlers);
  }

  private armMessageTimer(handlers: ConnectionHandlers): void {
    const limit = this.limits.messageTimeoutMs;
    if (limit <= 0 || !handlers.inMessage) return;
    if (handlers.inMessage()) {
      this.messageTimer ??= setTimeout(() => {
        this.fail(new LimitError('FRAME_TIMEOUT', `message not completed within ${limit} ms`));
      }, limit);
    } else if (this.messageTimer) {
      clearTimeout(this.messageTimer);
      this.messageTimer = undefined;
    }
  }

  private onEnd(): void {
    const handlers = this.handlers;
    if (handlers?.end) {
      try {
        handlers.end();
      } catch (err) {
        this.fail(err instanceof SockitError ? err : fromSystemError(err, 'handler'));
      }
    } else {
      this.end();
    }
  }

  private onBackpressure(): void {
    if (this.socket.writableLength > this.limits.maxPendingWrite) {
      this.fail(
        new LimitError(
          'SLOW_CONSUMER',
          `peer is not reading: ${this.socket.writableLength} bytes queued (limit ${this.limits.maxPendingWrite})`,
        ),
      );
      return;
    }
    if (this.limits.pauseReadingWhileBlocked && !this.pausedForOutput) {
      this.pausedForOutput = true;
      this.socket.pause();
    }
    const limit = this.limits.writeTimeoutMs;
    if (limit > 0) {
      this.writeTimer ??= setTimeout(() => {
        this.fail(new LimitError('SLOW_CONSUMER', `peer has not read its data for ${limit} ms`));
      }, limit);
    }
  }

  private onDrain(): void {
    if (this.writeTimer) {
      clearTimeout(this.writeTimer);
      this.writeTimer = undefined;
    }
    if (this.pausedForOutput) {
      this.pausedForOutput = false;
      if (!this.pausedByUser && !this.isClosed) this.socket.resume();
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.messageTimer) clearTimeout(this.messageTimer);
    if (this.writeTimer) clearTimeout(this.writeTimer);
    const info: CloseInfo = {
      error: this.error,
      bytesRead: this.socket.bytesRead,
      bytesWritten: this.socket.bytesWritten,
      durationMs: Math.round(performance.now() - this.startedAt),
    };
    this.closeInfo = info;
    this.handlers?.close?.(info);
    const listeners = this.closeListeners;
    if (typeof listeners === 'function') listeners(info, this);
    else if (listeners !== undefined) for (const listener of listeners) listener(info, this);
    this.resolveClosed?.(info);
  }
}

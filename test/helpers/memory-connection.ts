// Two Connections joined in memory, for tests that want a service's logic
// without sockets. It keeps the contract test/transport/connection-compliance
// checks on TCP, TLS and Unix sockets: ordered bytes delivered one turn later,
// write() false past a high-water mark and reading paused while blocked,
// half-close, destroy, and the same limit errors (IDLE_TIMEOUT, FRAME_TIMEOUT,
// SLOW_CONSUMER) with the handler's notice sent before a fail.
import {
  DEFAULT_CONNECTION_LIMITS,
  LimitError,
  type CloseInfo,
  type Connection,
  type ConnectionHandlers,
  type ConnectionLimits,
  type SockitError,
} from '../../src/index.js';
import { CLIENT_CONNECTION_LIMITS } from '../../src/internal.js';

/** A socket's default writable high-water mark: write() turns false past it. */
const HIGH_WATER_MARK = 16 * 1024;

let nextId = 1_000_000;

class MemoryConnection implements Connection {
  readonly id = nextId++;
  readonly remote = 'memory';
  readonly remoteHost = 'memory';
  readonly limits: ConnectionLimits;
  peer!: MemoryConnection;
  private handlers: ConnectionHandlers | undefined;
  /** Bytes from the peer not yet handed to our handler. */
  private readonly inbox: Buffer[] = [];
  private inboxBytes = 0;
  /** The peer's FIN, once every byte before it is delivered. */
  private peerEnded = false;
  private endDelivered = false;
  private ended = false;
  private closed = false;
  private pausedByUser = false;
  private pausedForOutput = false;
  private needDrain = false;
  private scheduled = false;
  private error: SockitError | undefined;
  private bytesRead = 0;
  private bytesWritten = 0;
  private readonly startedAt = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private idleMs: number;
  private messageTimer: NodeJS.Timeout | undefined;
  private writeTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly closeListeners: ((info: CloseInfo, c: Connection) => void)[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  private readonly finishWaiters: (() => void)[] = [];
  private readonly closedPromise: Promise<CloseInfo>;
  private resolveClosed!: (info: CloseInfo) => void;

  constructor(limits: Partial<ConnectionLimits>) {
    // Field by field, as SocketConnection: a limit given as undefined takes its default.
    const d = DEFAULT_CONNECTION_LIMITS;
    this.limits = {
      idleTimeoutMs: limits.idleTimeoutMs ?? d.idleTimeoutMs,
      messageTimeoutMs: limits.messageTimeoutMs ?? d.messageTimeoutMs,
      maxPendingWrite: limits.maxPendingWrite ?? d.maxPendingWrite,
      writeTimeoutMs: limits.writeTimeoutMs ?? d.writeTimeoutMs,
      pauseReadingWhileBlocked: limits.pauseReadingWhileBlocked ?? d.pauseReadingWhileBlocked,
    };
    this.idleMs = this.limits.idleTimeoutMs;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    this.touch();
  }

  get whenClosed(): Promise<CloseInfo> {
    return this.closedPromise;
  }
  get isClosed(): boolean {
    return this.closed;
  }
  /** What we wrote that the peer's handler has not taken yet. */
  get pendingWrite(): number {
    return this.peer.inboxBytes;
  }

  start(handlers: ConnectionHandlers): void {
    if (this.handlers) throw new Error('connection already started');
    this.handlers = handlers;
    this.schedule();
  }

  write(data: Uint8Array): boolean {
    if (this.closed || this.ended) return false;
    // A copy: the writer may reuse its buffer once write() returns, as with a socket.
    this.peer.receive(Buffer.from(data));
    this.bytesWritten += data.byteLength;
    this.touch();
    if (this.pendingWrite <= HIGH_WATER_MARK) return true;
    this.needDrain = true;
    this.onBackpressure();
    return false;
  }

  writev(chunks: readonly Uint8Array[]): boolean {
    let ok = true;
    for (const chunk of chunks) ok = this.write(chunk);
    return ok;
  }

  async drained(): Promise<void> {
    if (!this.needDrain || this.closed) return;
    await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  async finished(): Promise<void> {
    if ((this.ended && this.pendingWrite === 0) || this.closed) return;
    await new Promise<void>((resolve) => this.finishWaiters.push(resolve));
  }

  onClosed(listener: (info: CloseInfo, connection: Connection) => void): void {
    this.closeListeners.push(listener);
  }

  setIdleTimeout(ms: number): void {
    this.idleMs = ms;
    this.touch();
  }

  setKeepAlive(): void {
    // Nothing to probe in memory: a peer is gone exactly when it closes.
  }

  pause(): void {
    this.pausedByUser = true;
  }

  resume(): void {
    this.pausedByUser = false;
    this.schedule();
  }

  end(data?: Uint8Array): void {
    if (this.closed || this.ended) return;
    if (data) this.write(data);
    this.ended = true;
    this.peer.peerEnded = true;
    this.peer.schedule();
    this.maybeFinished();
  }

  fail(error: SockitError): void {
    if (this.closed) return;
    this.error ??= error;
    const notice = this.ended ? undefined : this.handlers?.notice?.(error);
    if (notice === undefined || error.code === 'SLOW_CONSUMER') {
      this.destroy();
      return;
    }
    this.end(notice);
    // As a socket: the peer has a grace period to take the notice, then it is cut.
    this.graceTimer = setTimeout(() => this.destroy(), 1_000);
  }

  destroy(error?: SockitError): void {
    if (error) this.error ??= error;
    if (this.closed) return;
    this.closeSoon();
    // The peer sees the stream end (and close) once it has read what was sent.
    this.peer.peerEnded = true;
    this.peer.peerDestroyed = true;
    this.peer.schedule();
  }

  // --- the peer's side of the pipe ---

  private peerDestroyed = false;

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.inbox.push(chunk);
    this.inboxBytes += chunk.byteLength;
    this.schedule();
  }

  /** Delivers one turn later, like a socket read: never inside the writer's call. */
  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.deliver();
    });
  }

  /** A method, not the field: a handler called above may have closed us. */
  private gone(): boolean {
    return this.closed;
  }

  private deliver(): void {
    const handlers = this.handlers;
    if (!handlers || this.closed) return;
    while (this.inbox.length > 0 && !this.pausedByUser && !this.pausedForOutput && !this.gone()) {
      const chunk = this.inbox.shift()!;
      this.inboxBytes -= chunk.byteLength;
      this.bytesRead += chunk.byteLength;
      this.touch();
      try {
        handlers.data(chunk);
      } catch (err) {
        this.fail(err as SockitError);
        return;
      }
      this.armMessageTimer(handlers);
    }
    this.peer.onPeerRead();
    if (this.inbox.length > 0 || this.gone()) return;
    if (this.peerDestroyed) {
      this.closeSoon();
      return;
    }
    if (this.peerEnded && !this.endDelivered) {
      this.endDelivered = true;
      if (handlers.end) handlers.end();
      else this.end();
      this.maybeBothEnded();
    }
  }

  /** The peer took our bytes: drain when under the mark, finish when all are taken. */
  private onPeerRead(): void {
    if (this.needDrain && this.pendingWrite <= HIGH_WATER_MARK) {
      this.needDrain = false;
      if (this.writeTimer) clearTimeout(this.writeTimer);
      this.writeTimer = undefined;
      if (this.pausedForOutput) {
        this.pausedForOutput = false;
        this.schedule();
      }
      for (const waiter of this.drainWaiters.splice(0)) waiter();
    }
    this.maybeFinished();
  }

  private maybeFinished(): void {
    if (this.ended && this.pendingWrite === 0) {
      for (const waiter of this.finishWaiters.splice(0)) waiter();
      this.maybeBothEnded();
    }
  }

  /** Both FINs delivered and nothing left to read: both sides close, as a socket does. */
  private maybeBothEnded(): void {
    const [a, b] = [this, this.peer];
    if (
      a.ended &&
      b.ended &&
      a.endDelivered &&
      b.endDelivered &&
      a.inboxBytes + b.inboxBytes === 0
    ) {
      a.closeSoon();
      b.closeSoon();
    }
  }

  private onBackpressure(): void {
    if (this.pendingWrite > this.limits.maxPendingWrite) {
      this.fail(
        new LimitError(
          'SLOW_CONSUMER',
          `peer is not reading: ${this.pendingWrite} bytes queued (limit ${this.limits.maxPendingWrite})`,
        ),
      );
      return;
    }
    if (this.limits.pauseReadingWhileBlocked) this.pausedForOutput = true;
    const limit = this.limits.writeTimeoutMs;
    if (limit > 0) {
      this.writeTimer ??= setTimeout(() => {
        this.fail(new LimitError('SLOW_CONSUMER', `peer has not read its data for ${limit} ms`));
      }, limit);
    }
  }

  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.idleMs <= 0 || this.closed) return;
    const ms = this.idleMs;
    this.idleTimer = setTimeout(() => {
      this.fail(new LimitError('IDLE_TIMEOUT', `no traffic for ${ms} ms`));
    }, ms);
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

  private closeSoon(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of [this.idleTimer, this.messageTimer, this.writeTimer, this.graceTimer]) {
      clearTimeout(timer);
    }
    for (const waiter of [...this.drainWaiters.splice(0), ...this.finishWaiters.splice(0)])
      waiter();
    // 'close' comes after the current event, as a socket's does.
    setImmediate(() => {
      const info: CloseInfo = {
        error: this.error,
        bytesRead: this.bytesRead,
        bytesWritten: this.bytesWritten,
        durationMs: Math.round(performance.now() - this.startedAt),
      };
      this.handlers?.close?.(info);
      for (const listener of this.closeListeners) listener(info, this);
      this.resolveClosed(info);
    });
  }
}

/**
 * Two connected ends: the first has `limits` (a server's), the second a
 * client's, as `connect()` gives.
 */
export function memoryPair(limits: Partial<ConnectionLimits> = {}): [Connection, Connection] {
  const a = new MemoryConnection(limits);
  const b = new MemoryConnection(CLIENT_CONNECTION_LIMITS);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

import type { SockitError } from '../errors.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_FRAME_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_WRITE,
  DEFAULT_WRITE_TIMEOUT_MS,
} from '../limits.js';

/** The time and memory bounds of one connection. 0 disables a timeout. */
export interface ConnectionLimits {
  /** No bytes in either direction for this long closes the connection (ms). */
  idleTimeoutMs: number;
  /** A message (frame, envelope, line) that has started must finish within this (ms). */
  messageTimeoutMs: number;
  /** Bytes queued for the peer beyond which it is cut off as SLOW_CONSUMER. */
  maxPendingWrite: number;
  /** Output that has not drained for this long marks a SLOW_CONSUMER (ms). */
  writeTimeoutMs: number;
  /**
   * Stop reading while our output does not drain: a server's backpressure on
   * a client that sends faster than it reads. Off for clients: if both ends
   * did it, a client writing a large message to an echo would deadlock.
   */
  pauseReadingWhileBlocked: boolean;
}

/** The connection limits a server uses where its options say nothing (docs/LIMITS.md). */
export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = {
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
  messageTimeoutMs: DEFAULT_FRAME_TIMEOUT_MS,
  maxPendingWrite: DEFAULT_MAX_PENDING_WRITE,
  writeTimeoutMs: DEFAULT_WRITE_TIMEOUT_MS,
  pauseReadingWhileBlocked: true,
};

/** A client's limits: no idle or message deadlines unless asked for. */
export const CLIENT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = {
  idleTimeoutMs: 0,
  messageTimeoutMs: 0,
  maxPendingWrite: DEFAULT_MAX_PENDING_WRITE,
  writeTimeoutMs: 0,
  pauseReadingWhileBlocked: false,
};

/** How a connection ended: `error` is undefined for an orderly close. */
export interface CloseInfo {
  error: SockitError | undefined;
  bytesRead: number;
  bytesWritten: number;
  durationMs: number;
}

/** What a service gives {@link Connection.start}: where bytes, the peer's end and the close go, and the notice to send before failing a connection. */
export interface ConnectionHandlers {
  /** Bytes from the peer. Throwing a SockitError fails the connection with it. */
  data(chunk: Buffer): void;
  /** The peer finished sending (FIN). Default: finish our side too. */
  end?(): void;
  /** Called once, after the socket is fully closed. */
  close?(info: CloseInfo): void;
  /** Bytes to send the peer before closing it for `error` (a notice in its format). */
  notice?(error: SockitError): Buffer | undefined;
  /** Whether a message is part-way through (arms the message deadline). */
  inMessage?(): boolean;
}

/**
 * One byte-stream connection as a service sees it: bytes in through
 * `start(handlers)`, bytes out through `write`/`end`, flow control, and every
 * bound of {@link ConnectionLimits} enforced. TCP, TLS and Unix sockets are
 * one ({@link SocketConnection}); a test's memory pair is another. The socket
 * itself stays inside src/transport.
 */
export interface Connection {
  readonly id: number;
  /** `127.0.0.1:53122`, `[::1]:53122` or `unix`. */
  readonly remote: string;
  /** The peer's address without the port (`127.0.0.1`, `::1`), or `unix`: what access rules and tokens are checked against. */
  readonly remoteHost: string;
  readonly limits: ConnectionLimits;
  /** Resolves once the connection is fully closed, with how it ended. */
  readonly whenClosed: Promise<CloseInfo>;
  readonly isClosed: boolean;
  /** Bytes queued in user space for the peer. */
  readonly pendingWrite: number;
  /** Starts delivering events; nothing is read before this. Once only. */
  start(handlers: ConnectionHandlers): void;
  /** Queues bytes; false means stop producing until drained (reading is paused meanwhile). */
  write(data: Uint8Array): boolean;
  /** Writes several buffers with one system call. */
  writev(chunks: readonly Uint8Array[]): boolean;
  /** Resolves when queued output has drained (or the connection closed). */
  drained(): Promise<void>;
  /** Resolves once our side has ended and every queued byte, then the FIN, is with the OS. */
  finished(): Promise<void>;
  /** Calls `listener` synchronously on close, after the handler's `close`. */
  onClosed(listener: (info: CloseInfo, connection: Connection) => void): void;
  /** The idle timeout in ms; 0 turns it off. */
  setIdleTimeout(ms: number): void;
  /** TCP keep-alive probes after `ms` of silence, so peers that cannot answer pings (`nc`) are found dead. */
  setKeepAlive(ms: number): void;
  /** Stops reading from the peer (the kernel then pushes back on it). */
  pause(): void;
  resume(): void;
  /** Finishes our side after queued output. */
  end(data?: Uint8Array): void;
  /** Closes because of `error`, after a notice in the peer's format if the handler has one. */
  fail(error: SockitError): void;
  /** Closes at once, without a notice. */
  destroy(error?: SockitError): void;
}

import {
  LimitError,
  NetworkError,
  SockitError,
  type ErrorCode,
  InternalError,
  UsageError,
} from '../../errors.js';
import { isErrorCode } from '../../errors.js';
import type { Logger } from '../../log.js';
import { FRAME_HEADER_BYTES } from '../../protocol/byte-order.js';
import { FrameDecoder } from '../../protocol/frame-decoder.js';
import { encodeServerFrames } from '../../protocol/websocket-frame.js';
import type { CloseInfo, ConnectionHandlers } from '../../transport/connection.js';
import { socketOf, type WebSocket } from '../../transport/websocket.js';
import type { ChatConnection } from '../chat/index.js';
import { CLOSE_CODES, closeReason } from './messages.js';

/** Ids of WebSocket chat clients in logs, apart from TCP connection ids. */
let nextId = 1;

/**
 * The broker writes the events of one turn as one buffer of frames, often
 * the very same buffer to every member of a room: split it once, and frame
 * it as WebSocket messages once, not once per member.
 */
let lastWritten: Uint8Array | undefined;
let lastPayloads: Buffer[] = [];
let lastFramed: Uint8Array | undefined;
let lastWsFrames: Buffer | undefined;

/** `bytes` (u32be envelope frames) as WebSocket text frames, one message per envelope. */
function wsFramesOf(bytes: Uint8Array): Buffer {
  if (bytes === lastFramed && lastWsFrames !== undefined) return lastWsFrames;
  const frames = encodeServerFrames(payloadsOf(bytes));
  lastFramed = bytes;
  lastWsFrames = frames;
  return frames;
}

/** `ws`'s readyState of an open WebSocket. */
const OPEN = 1;

function payloadsOf(bytes: Uint8Array): Buffer[] {
  if (bytes === lastWritten) return lastPayloads;
  const payloads: Buffer[] = [];
  const decoder = new FrameDecoder((payload) => {
    payloads.push(payload);
  });
  const buf = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  decoder.push(buf);
  // The broker writes whole envelopes only; a partial one would be our bug.
  if (decoder.inFrame) throw new InternalError('chat wrote a partial frame');
  lastWritten = bytes;
  lastPayloads = payloads;
  return payloads;
}

/** The code and message of an `error` envelope, if `payload` is one. */
function errorOf(payload: Buffer): { code: ErrorCode; message: string } | undefined {
  try {
    const e = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    if (e.type === 'error' && isErrorCode(e.code)) {
      return { code: e.code, message: typeof e.message === 'string' ? e.message : '' };
    }
  } catch {
    return undefined;
  }
  return undefined;
}

export interface WsChatOptions {
  remote: string;
  /** How long a closing browser gets before its socket is destroyed (ms). */
  graceMs: number;
  log: Logger;
  onClosed(conn: WsChatConnection): void;
}

/**
 * A browser as a chat client of the broker in this process (ChatServer.attach).
 * One WebSocket text message in is one u32be envelope frame to the broker;
 * each frame the broker writes goes out as one text message. `pendingWrite`
 * is the WebSocket's `bufferedAmount`, so the broker's own queue bound
 * (SLOW_CONSUMER) and rate limit (pause/resume) apply to browsers unchanged.
 */
export class WsChatConnection implements ChatConnection {
  readonly id = nextId++;
  /** Set by any sign of life; the heartbeat clears it and pings. */
  alive = true;
  private handlers: ConnectionHandlers | undefined;
  private error: SockitError | undefined;
  private closed = false;
  private ending = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = performance.now();
  private bytesRead = 0;
  private bytesWritten = 0;

  constructor(
    readonly ws: WebSocket,
    private readonly options: WsChatOptions,
  ) {}

  get pendingWrite(): number {
    return this.ws.bufferedAmount;
  }

  start(handlers: ConnectionHandlers): void {
    if (this.handlers) throw new UsageError('INVALID_STATE', 'connection already started');
    this.handlers = handlers;
    const ws = this.ws;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.onMessage(data, isBinary);
    });
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err) => {
      this.options.log.debug({ event: 'ws_error', conn: this.id, err: err.message });
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.onClose(code, reason.toString('utf8'));
    });
  }

  write(data: Uint8Array): boolean {
    if (this.closed || this.ending) return false;
    const socket = socketOf(this.ws);
    if (socket !== undefined && this.ws.readyState === OPEN) {
      // The same bytes ws would write, framed once for the whole room, in one
      // write. Safe beside ws's own sends (pings, close): without
      // permessage-deflate (the acceptor turns it off) ws writes every frame to
      // the socket at once, so the socket's order is the order of the calls;
      // and bufferedAmount still counts it (it is the socket's queue).
      socket.write(wsFramesOf(data));
    } else {
      for (const payload of payloadsOf(data)) this.ws.send(payload, { binary: false });
    }
    this.bytesWritten += data.length;
    return true;
  }

  /**
   * Sends what is left (the broker's last words: `error` before a cut-off)
   * and closes with 1000, or with 1008 and `CODE: message` after an error.
   */
  end(data?: Uint8Array): void {
    if (this.closed || this.ending) return;
    let code: number = CLOSE_CODES.normal;
    let reason = 'bye';
    if (data !== undefined) {
      const payloads = payloadsOf(data);
      for (const payload of payloads) this.ws.send(payload, { binary: false });
      const last = payloads.at(-1);
      const error = last !== undefined ? errorOf(last) : undefined;
      if (error !== undefined) {
        code = error.code === 'SHUTTING_DOWN' ? CLOSE_CODES.goingAway : CLOSE_CODES.policy;
        reason = `${error.code}: ${error.message}`;
      }
    }
    this.ending = true;
    this.ws.close(code, closeReason(reason));
    this.graceTimer = setTimeout(() => {
      this.ws.terminate();
    }, this.options.graceMs);
    this.graceTimer.unref();
  }

  destroy(error?: SockitError): void {
    if (error) this.error ??= error;
    if (!this.closed) this.ws.terminate();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    if (!this.closed) this.ws.resume();
  }

  /** The heartbeat: a browser silent since the last ping is dead. */
  heartbeat(): void {
    if (this.closed || this.ending) return;
    if (!this.alive) {
      this.fail(new LimitError('PING_TIMEOUT', 'no answer to a WebSocket ping'));
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /** The gateway is shutting down. */
  shutDown(): void {
    this.fail(new LimitError('SHUTTING_DOWN', 'the gateway is going away'));
  }

  /** Closes for `error` with the broker's notice in the client's format. */
  fail(error: SockitError): void {
    if (this.closed || this.ending) return;
    this.error ??= error;
    const notice = this.handlers?.notice?.(error);
    if (notice !== undefined) this.end(notice);
    else this.end();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.alive = true;
    const handlers = this.handlers;
    if (this.closed || this.ending || handlers === undefined) return;
    if (isBinary) {
      this.ws.send(
        JSON.stringify({
          type: 'error',
          code: 'BAD_REQUEST',
          message:
            'the chat takes text messages, one JSON request each; binary messages are for bridges',
        }),
      );
      return;
    }
    // One message, one envelope frame: the broker's decoder sees exactly what a TCP client sends.
    const chunk = Buffer.allocUnsafe(FRAME_HEADER_BYTES + data.length);
    chunk.writeUInt32BE(data.length, 0);
    data.copy(chunk, FRAME_HEADER_BYTES);
    this.bytesRead += chunk.length;
    try {
      handlers.data(chunk);
    } catch (err) {
      this.fail(err instanceof SockitError ? err : new NetworkError('NETWORK_ERROR', String(err)));
    }
  }

  private onClose(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    // 1000/1001 (a closed tab, a reload) is a quit; no close frame at all is a reset.
    if (code !== 1000 && code !== 1001 && this.error === undefined && !this.ending) {
      this.error = new NetworkError('CONNECTION_RESET', `WebSocket closed with ${code}`);
    }
    const info: CloseInfo = {
      error: this.error,
      bytesRead: this.bytesRead,
      bytesWritten: this.bytesWritten,
      durationMs: Math.round(performance.now() - this.startedAt),
    };
    this.options.log.info({
      event: 'ws_close',
      conn: this.id,
      remote: this.options.remote,
      path: '/ws',
      code,
      reason,
      error: this.error?.code,
      bytesRead: info.bytesRead,
      bytesWritten: info.bytesWritten,
      durationMs: info.durationMs,
    });
    this.handlers?.close?.(info);
    this.options.onClosed(this);
  }
}

import type { Duplex } from 'node:stream';
import { LimitError, NetworkError, type SockitError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { FrameDecoder } from '../../protocol/frame-decoder.js';
import { encodeFrameHeader } from '../../protocol/frame-encoder.js';
import type { CloseInfo, Connection } from '../../transport/connection.js';
import { socketOf, type WebSocket } from '../../transport/websocket.js';
import { CLOSE_CODES, closeReason } from './messages.js';

/**
 * `chat`: text messages, each one JSON envelope header; a browser that does
 * not read is cut off (SLOW_CONSUMER), as the broker cuts a TCP client.
 * `bridge`: each message, text or binary, is one frame payload, replies are
 * binary; a browser that does not read pauses the target (backpressure),
 * nothing is dropped.
 */
export type LinkKind = 'chat' | 'bridge';

export interface LinkOptions {
  kind: LinkKind;
  /** The WebSocket path, for logs. */
  path: string;
  /** Who opened the WebSocket (`host:port`), for logs. */
  remote: string;
  /** Largest frame accepted from the target. */
  maxFrame: number;
  /** chat: bytes queued for the browser before SLOW_CONSUMER; bridge: the high-water mark. */
  maxQueue: number;
  /** How long a closing WebSocket or target gets before it is destroyed (ms). */
  graceMs: number;
  log: Logger;
  /** Told once, when both sides are closed. */
  onDone(link: WsLink): void;
}

/** A chat text message that cannot be a chat request. */
const BINARY_ON_CHAT = JSON.stringify({
  type: 'error',
  code: 'BAD_REQUEST',
  message: 'the chat takes text messages, one JSON request each; binary messages are for bridges',
});

/**
 * One WebSocket joined to one framed TCP connection: one WebSocket message
 * is one u32be frame, both ways, never re-cut. Every bound of the target
 * (the chat broker's rate limit and message bounds, a service's maxFrame)
 * applies unchanged, because the target sees an ordinary TCP client.
 */
export class WsLink {
  /** Set by any sign of life; the heartbeat clears it and pings. */
  alive = true;
  private ended = false;
  private wsClosed = false;
  private targetClosed = false;
  private targetPaused = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly decoder: FrameDecoder;
  private readonly socket: Duplex | undefined;
  private readonly binary: boolean;
  private readonly startedAt = performance.now();
  private messagesIn = 0;
  private messagesOut = 0;

  constructor(
    readonly ws: WebSocket,
    readonly conn: Connection,
    private readonly options: LinkOptions,
  ) {
    this.binary = options.kind === 'bridge';
    this.socket = socketOf(ws);
    this.decoder = new FrameDecoder(
      (payload) => {
        this.toBrowser(payload);
      },
      { maxFrame: options.maxFrame },
    );
    conn.start({
      data: (chunk) => {
        this.decoder.push(chunk);
      },
      end: () => {
        conn.end();
      },
      inMessage: () => this.decoder.inFrame,
      close: (info) => {
        this.onTargetClosed(info);
      },
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.fromBrowser(data, isBinary);
    });
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err) => {
      options.log.debug({ event: 'ws_error', conn: conn.id, err: err.message });
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.onBrowserClosed(code, reason.toString('utf8'));
    });
  }

  /** Bytes waiting for the browser: what `ws` and the socket hold. */
  get pendingWrite(): number {
    return this.ws.bufferedAmount;
  }

  /** Bytes waiting for the TCP target (a bridge's other direction). */
  get pendingToTarget(): number {
    return this.conn.pendingWrite;
  }

  /** The heartbeat: a link silent since the last ping is dead. */
  heartbeat(): void {
    if (this.ended) return;
    if (!this.alive) {
      this.cutOff(new LimitError('PING_TIMEOUT', 'no answer to a WebSocket ping'));
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /** The gateway is shutting down: close with 1001. */
  shutDown(): void {
    this.close(CLOSE_CODES.goingAway, 'SHUTTING_DOWN: the gateway is going away');
    this.conn.end();
  }

  /**
   * Ends the link for `error`: a chat browser is told in an `error` event,
   * the WebSocket closes with the code and reason after what is queued, the
   * target is closed at once.
   */
  cutOff(error: SockitError): void {
    if (this.ended) return;
    this.options.log.warn({
      event: 'cut_off',
      conn: this.conn.id,
      remote: this.options.remote,
      path: this.options.path,
      code: error.code,
      queued: this.ws.bufferedAmount,
    });
    if (!this.binary) {
      this.ws.send(JSON.stringify({ type: 'error', code: error.code, message: error.message }));
    }
    this.close(closeCodeFor(error), `${error.code}: ${error.message}`);
    this.conn.destroy(error);
  }

  private fromBrowser(data: Buffer, isBinary: boolean): void {
    this.alive = true;
    if (this.ended) return;
    if (isBinary && !this.binary) {
      this.ws.send(BINARY_ON_CHAT);
      return;
    }
    this.messagesIn++;
    const ok = this.conn.writev([encodeFrameHeader(data.length), data]);
    if (!ok && !this.conn.isClosed) {
      // The target is not reading: stop reading the browser until it does.
      this.ws.pause();
      void this.conn.drained().then(() => {
        if (!this.wsClosed) this.ws.resume();
      });
    }
  }

  private toBrowser(payload: Buffer): void {
    if (this.ended) return;
    const queued = this.ws.bufferedAmount;
    const limit = this.options.maxQueue;
    if (!this.binary && queued + payload.length > limit) {
      this.cutOff(
        new LimitError(
          'SLOW_CONSUMER',
          `you are not reading: ${queued} bytes queued (limit ${limit})`,
        ),
      );
      return;
    }
    this.messagesOut++;
    this.ws.send(payload, { binary: this.binary });
    if (this.binary && !this.targetPaused && this.ws.bufferedAmount > limit) {
      // The browser is behind: the target waits (TCP pushes back on it) until the socket drains.
      this.targetPaused = true;
      this.conn.pause();
      const resume = (): void => {
        this.targetPaused = false;
        if (!this.ended) this.conn.resume();
      };
      if (this.socket) this.socket.once('drain', resume);
      else resume();
    }
  }

  private onTargetClosed(info: CloseInfo): void {
    this.targetClosed = true;
    const error = info.error;
    if (error !== undefined) this.close(closeCodeFor(error), `${error.code}: ${error.message}`);
    else this.close(CLOSE_CODES.normal, 'closed by the server');
    this.finish();
  }

  private onBrowserClosed(code: number, reason: string): void {
    this.wsClosed = true;
    this.ended = true;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.options.log.info({
      event: 'ws_close',
      conn: this.conn.id,
      remote: this.options.remote,
      path: this.options.path,
      code,
      reason,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      durationMs: Math.round(performance.now() - this.startedAt),
    });
    if (!this.targetClosed) {
      // The broker hears an orderly end (its `quit`); a target that does not finish is cut.
      this.conn.end();
      this.graceTimer = setTimeout(() => {
        this.conn.destroy();
      }, this.options.graceMs);
      this.graceTimer.unref();
    }
    this.finish();
  }

  /** Closes the WebSocket once, after what is queued; destroyed if the browser does not answer. */
  private close(code: number, reason: string): void {
    this.ended = true;
    if (this.wsClosed || this.graceTimer) return;
    this.ws.close(code, closeReason(reason));
    this.graceTimer = setTimeout(() => {
      this.ws.terminate();
    }, this.options.graceMs);
    this.graceTimer.unref();
  }

  private finish(): void {
    if (!this.wsClosed || !this.targetClosed) return;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.options.onDone(this);
  }
}

/** The WebSocket close code for why a link ended (RFC 6455 §7.4.1). */
export function closeCodeFor(error: SockitError): number {
  if (error.code === 'BUSY' || error.code === 'SHUTTING_DOWN') return CLOSE_CODES.tryLater;
  if (error instanceof NetworkError) return CLOSE_CODES.targetFailed;
  return CLOSE_CODES.policy;
}

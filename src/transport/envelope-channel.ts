import { SockitError, fromSystemError } from '../errors.js';
import type { ByteOrder } from '../protocol/byte-order.js';
import {
  EnvelopeDecoder,
  encodeEnvelopeHeader,
  errorHeader,
  type EnvelopeHeader,
  type HeaderNormalizer,
} from '../protocol/envelope.js';
import type { CloseInfo, Connection } from './connection.js';

/** What a channel delivers, one call at a time and in stream order. */
export interface ChannelHandlers {
  header(header: EnvelopeHeader): void;
  /** A piece of the current body (a view on a socket buffer: copy it to keep it). */
  body?(chunk: Buffer): void;
  /** The current body is complete (only for envelopes with size > 0). */
  bodyEnd?(): void;
  /** The peer finished sending after a complete envelope. Default: end our side. */
  end?(): void;
  close?(info: CloseInfo): void;
}

/** Options of {@link EnvelopeChannel}: byte order and bounds. */
export interface EnvelopeChannelOptions {
  /** @default 'u32be' */
  byteOrder?: ByteOrder;
  /** @default 64 KiB */
  maxHeader?: number;
  normalize?: HeaderNormalizer;
}

type Event =
  | { kind: 'header'; header: EnvelopeHeader }
  | { kind: 'body'; chunk: Buffer }
  | { kind: 'bodyEnd' }
  | { kind: 'end' };

/**
 * Envelopes (SPEC §1.2) over one Connection, for services and their clients.
 *
 * Handlers run one at a time. A handler that has async work to do (fsync a
 * file, wait for a child's stdin to drain) calls `pause()`: nothing more is
 * delivered, and the socket stops reading, until `resume()`. Events already
 * decoded from the chunk in hand wait in a queue bounded by one socket read,
 * so a paused channel holds at most one read's worth of bytes.
 */
export class EnvelopeChannel {
  readonly connection: Connection;
  private readonly decoder: EnvelopeDecoder;
  private readonly byteOrder: ByteOrder;
  private handlers: ChannelHandlers | undefined;
  private readonly queue: Event[] = [];
  private paused = false;
  private readingPaused = false;
  private dispatching = false;

  constructor(connection: Connection, options: EnvelopeChannelOptions = {}) {
    this.connection = connection;
    this.byteOrder = options.byteOrder ?? 'u32be';
    this.decoder = new EnvelopeDecoder(
      {
        onHeader: (header) => this.queue.push({ kind: 'header', header }),
        onBody: (chunk) => this.queue.push({ kind: 'body', chunk }),
        onBodyEnd: () => this.queue.push({ kind: 'bodyEnd' }),
      },
      {
        byteOrder: this.byteOrder,
        ...(options.maxHeader !== undefined ? { maxHeader: options.maxHeader } : {}),
        ...(options.normalize ? { normalize: options.normalize } : {}),
      },
    );
  }

  /** Starts reading; `handlers` may be swapped later with `setHandlers`. */
  start(handlers: ChannelHandlers): void {
    this.handlers = handlers;
    this.connection.start({
      data: (chunk) => {
        this.decoder.push(chunk);
        this.dispatch();
      },
      end: () => {
        this.decoder.end(); // INCOMPLETE if the peer stopped inside an envelope
        this.queue.push({ kind: 'end' });
        this.dispatch();
      },
      close: (info) => {
        this.handlers?.close?.(info);
      },
      notice: (error) => this.errorFrame(error),
      inMessage: () => this.decoder.inMessage,
    });
  }

  /** Replaces the handlers; events not yet delivered go to the new ones. */
  setHandlers(handlers: ChannelHandlers): void {
    this.handlers = handlers;
  }

  /** The header limit; tightened before authentication. */
  set maxHeader(bytes: number) {
    this.decoder.maxHeader = bytes;
  }

  get maxHeader(): number {
    return this.decoder.maxHeader;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Stops delivering events (and reading) until `resume()`. */
  pause(): void {
    this.paused = true;
    if (!this.readingPaused) {
      this.readingPaused = true;
      this.connection.pause();
    }
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.dispatch();
  }

  /**
   * Sends one envelope: the header frame, then `body` if given (its length
   * must be `header.size`). For larger bodies send the header with `size`
   * and stream the bytes with `sendBody`. Returns false when the caller
   * should wait for `drained()` before sending more.
   */
  send(header: EnvelopeHeader, body?: Uint8Array): boolean {
    const frame = encodeEnvelopeHeader(header, { byteOrder: this.byteOrder });
    return body && body.length > 0
      ? this.connection.writev([frame, body])
      : this.connection.write(frame);
  }

  /** Raw body bytes of the envelope whose header was just sent. */
  sendBody(chunk: Uint8Array): boolean {
    return this.connection.write(chunk);
  }

  /** Sends an error envelope; the connection stays open. */
  sendError(error: SockitError): boolean {
    return this.connection.write(this.errorFrame(error));
  }

  drained(): Promise<void> {
    return this.connection.drained();
  }

  /** Sends an error envelope, then closes (see Connection.fail). */
  fail(error: SockitError): void {
    this.connection.fail(error);
  }

  end(): void {
    this.connection.end();
  }

  private errorFrame(error: SockitError): Buffer {
    return encodeEnvelopeHeader(errorHeader(error.code, error.message), {
      byteOrder: this.byteOrder,
    });
  }

  private dispatch(): void {
    // A handler that resumes synchronously re-enters here; the outer loop carries on.
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (!this.paused && this.queue.length > 0 && !this.connection.isClosed) {
        const event = this.queue.shift() as Event;
        this.deliver(event);
      }
    } catch (err) {
      // Also reached from resume() outside any socket event: never let it escape.
      this.queue.length = 0;
      this.connection.fail(err instanceof SockitError ? err : fromSystemError(err, 'handler'));
    } finally {
      this.dispatching = false;
    }
    if (!this.paused && this.readingPaused) {
      this.readingPaused = false;
      this.connection.resume();
    }
  }

  private deliver(event: Event): void {
    const handlers = this.handlers;
    if (!handlers) return;
    switch (event.kind) {
      case 'header':
        handlers.header(event.header);
        break;
      case 'body':
        handlers.body?.(event.chunk);
        break;
      case 'bodyEnd':
        handlers.bodyEnd?.();
        break;
      case 'end':
        if (handlers.end) handlers.end();
        else this.connection.end();
        break;
    }
  }
}

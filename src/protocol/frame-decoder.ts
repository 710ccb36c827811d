import { ProtocolError, InternalError } from '../errors.js';
import { DEFAULT_MAX_FRAME } from '../limits.js';
import { FRAME_HEADER_BYTES, type ByteOrder } from './byte-order.js';

/** Options of {@link FrameDecoder}: byte order, the largest frame, assembly-buffer reuse. */
export interface FrameDecoderOptions {
  /** Largest payload accepted, in bytes. @default 16 MiB */
  maxFrame?: number;
  /** @default 'u32be' */
  byteOrder?: ByteOrder;
  /**
   * Keep the last split frame's assembly buffer for `takeAssembled()` (the
   * caller then gives it back, or drops it). Off by default: a decoder would
   * otherwise keep up to 64 KiB alive after the frame was handled.
   */
  recycle?: boolean;
}

/**
 * Receives each payload. Returning `false` stops the decoder right after this
 * frame: `push` then returns how many bytes it used, so a caller can hand the
 * rest of the chunk to something else (an envelope body).
 *
 * It is called as a method of the decoder (`this` is the FrameDecoder), so a
 * subclass can pass one function shared by all its instances instead of a
 * closure per instance (a server with 10 000 connections has 10 000 decoders).
 */
export type FrameHandler = (payload: Buffer) => unknown;

/** Below this a partial frame's assembly buffer is never allocated smaller (bytes). */
const MIN_ASSEMBLY = 64 * 1024;

/**
 * Bytes kept free in front of an assembled payload, so that a handler echoing
 * it can write its reply's header there and send one contiguous buffer (see
 * `headroom`). TLS copies every multi-buffer write into one before it
 * encrypts: a 64 KiB echo paid a 64 KiB copy for a 4-byte header.
 */
const HEADROOM = FRAME_HEADER_BYTES;

/**
 * Assembly buffers (MIN_ASSEMBLY bytes and the headroom) given back with `FrameDecoder.recycle`,
 * shared by every decoder of the process like Node's own Buffer pool, and
 * bounded: a process keeps at most this many, whatever its connections.
 * A fresh 64 KiB ArrayBuffer per split frame is external memory V8 must
 * scavenge; 64 KiB echo traffic did one per frame (docs/PERFORMANCE.md).
 */
const MAX_SPARES = 8;
const spares: Buffer[] = [];

/**
 * Turns a byte stream cut at arbitrary points back into the frames that were
 * sent (SPEC §1.1). Push chunks in; each whole payload is handed to `onFrame`
 * synchronously, in order.
 *
 * Memory and copies, the hot path of every framed service:
 * - A frame that lies inside one pushed chunk is handed out as a view on that
 *   chunk (no copy). Socket chunks are never reused by Node, so views are safe;
 *   a caller that reuses its input buffer must copy what it keeps.
 * - A frame split across chunks is copied once into an assembly buffer that
 *   grows with what has actually arrived (never sized from the peer's claim
 *   alone), so a 4-byte lie costs at most 64 KiB, not `maxFrame`.
 * - The declared length is checked against `maxFrame` as soon as the 4th
 *   header byte is seen, before anything is buffered for the payload.
 * @example
 * ```ts
 * import { FrameDecoder, encodeFrame } from 'sockit';
 *
 * // Whatever the chunking, each length-prefixed frame comes out whole, once.
 * const frames: string[] = [];
 * const decoder = new FrameDecoder((payload) => frames.push(payload.toString()));
 * // encodeFrame gives [header, payload], ready for writev: no copy.
 * const bytes = Buffer.concat([...encodeFrame(Buffer.from('sticky')), ...encodeFrame(Buffer.from('packets'))]);
 * for (const byte of bytes) decoder.push(Buffer.from([byte])); // one byte per read
 * console.log(frames); // [ 'sticky', 'packets' ]
 * ```
 */
export class FrameDecoder {
  readonly byteOrder: ByteOrder;
  /** Public so a service can tighten it, e.g. before authentication. */
  maxFrame: number;
  private readonly onFrame: FrameHandler;
  private readonly littleEndian: boolean;
  private readonly recycling: boolean;

  /**
   * Header bytes of a frame whose header was split (0 when none pending).
   * Allocated on first use: most connections never split a header, and 10 000
   * idle connections would each hold a Buffer for nothing.
   */
  private head: Buffer | undefined;
  private headFill = 0;
  /** Declared length of the frame being assembled, or -1 when between frames. */
  private frameLength = -1;
  private body: Buffer | null = null;
  private bodyFill = 0;
  /** Set when the handler of a split frame asked to stop. */
  private stopped = false;
  /** The assembly buffer of the split frame completed last, until `takeAssembled()`. */
  private assembled: Buffer | undefined;
  /** During a handler call, the Buffer the payload is a view of (see `source`). */
  private current: Buffer | undefined;
  /** During a handler call, whether the 4 bytes before the payload are the frame's own (see `headroom`). */
  private roomy = false;

  constructor(onFrame: FrameHandler, options: FrameDecoderOptions = {}) {
    this.onFrame = onFrame;
    this.maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
    this.byteOrder = options.byteOrder ?? 'u32be';
    this.littleEndian = this.byteOrder === 'u32le';
    this.recycling = options.recycle ?? false;
  }

  /** Bytes held for the frame in progress (header included); 0 between frames. */
  get bufferedBytes(): number {
    return this.frameLength >= 0 ? FRAME_HEADER_BYTES + this.bodyFill : this.headFill;
  }

  /**
   * Declared payload length of the frame in progress, once its 4-byte header
   * is complete; undefined between frames and while the header is split.
   */
  get pendingLength(): number | undefined {
    return this.frameLength >= 0 ? this.frameLength : undefined;
  }

  /**
   * During a handler call: the Buffer whose bytes the payload is a view of
   * (the chunk pushed, or the split frame's assembly buffer), so a handler can
   * reuse what it derived from that buffer for every frame of one read.
   * Undefined outside handler calls (no chunk is kept between reads).
   */
  get source(): Buffer | undefined {
    return this.current;
  }

  /**
   * During a handler call: whether the 4 bytes just before the payload, in
   * the same ArrayBuffer, belong to this frame (its own header in the chunk,
   * or the headroom of an assembly buffer), so the handler may overwrite them,
   * e.g. with its reply's header (FrameWriter's `send(payload, true)`). False when
   * the header came in an earlier chunk than the payload; false outside
   * handler calls.
   */
  get headroom(): boolean {
    return this.roomy;
  }

  /** Whether a frame has started and is not yet complete. */
  get inFrame(): boolean {
    return this.frameLength >= 0 || this.headFill > 0;
  }

  /**
   * Feeds the next bytes of the stream and returns how many were used: all of
   * them unless the handler returned `false`. Throws ProtocolError
   * FRAME_TOO_LARGE.
   */
  push(chunk: Buffer): number {
    try {
      return this.pushChunk(chunk);
    } finally {
      this.current = undefined;
      this.roomy = false;
    }
  }

  private pushChunk(chunk: Buffer): number {
    const end = chunk.length;
    let off = 0;
    if (this.inFrame) {
      off = this.continueFrame(chunk);
      if (off < 0) return end;
      if (this.stopped) return this.stop(off);
    }
    // Fast path: whole frames inside this chunk are views on it, each after its header.
    this.current = chunk;
    this.roomy = true;
    while (end - off >= FRAME_HEADER_BYTES) {
      const length = this.littleEndian ? chunk.readUInt32LE(off) : chunk.readUInt32BE(off);
      if (length > this.maxFrame) throw this.tooLarge(length);
      const start = off + FRAME_HEADER_BYTES;
      const stop = start + length;
      if (stop > end) {
        this.startBody(length, chunk, start);
        return end;
      }
      off = stop;
      if (this.onFrame(chunk.subarray(start, stop)) === false) return off;
    }
    if (off < end) {
      chunk.copy((this.head ??= Buffer.alloc(FRAME_HEADER_BYTES)), 0, off, end);
      this.headFill = end - off;
    }
    return end;
  }

  private stop(off: number): number {
    this.stopped = false;
    return off;
  }

  /**
   * Declares the end of the stream. Throws ProtocolError INCOMPLETE when a frame
   * was started but not finished: a truncated frame is never delivered.
   */
  end(): void {
    if (!this.inFrame) return;
    const held = this.bufferedBytes;
    const expected = this.frameLength >= 0 ? `${this.frameLength}-byte frame` : 'frame header';
    this.reset();
    throw new ProtocolError(
      'INCOMPLETE',
      `stream ended inside a ${expected} (${held} bytes of it received)`,
    );
  }

  /**
   * The whole buffer behind the payload of the last split frame delivered
   * (undefined if none since the last call). A caller that knows nothing
   * holds that payload any more (written and flushed to the kernel) may give
   * it to `FrameDecoder.recycle`.
   */
  takeAssembled(): Buffer | undefined {
    const buffer = this.assembled;
    this.assembled = undefined;
    return buffer;
  }

  /**
   * Lets a later split frame, in any decoder, reuse `buffer` (from
   * `takeAssembled`). Only pool-sized buffers are kept, and only a few.
   * The caller must hold no view on it: its bytes will be overwritten.
   */
  static recycle(buffer: Buffer): void {
    if (buffer.length === HEADROOM + MIN_ASSEMBLY && spares.length < MAX_SPARES)
      spares.push(buffer);
  }

  /** Drops any partial frame. */
  reset(): void {
    this.headFill = 0;
    this.frameLength = -1;
    this.body = null;
    this.bodyFill = 0;
  }

  /** Continues a split frame; returns the offset after it, or -1 if `chunk` was used up. */
  private continueFrame(chunk: Buffer): number {
    let off = 0;
    if (this.frameLength < 0) {
      const head = (this.head ??= Buffer.alloc(FRAME_HEADER_BYTES));
      const need = FRAME_HEADER_BYTES - this.headFill;
      if (chunk.length < need) {
        chunk.copy(head, this.headFill);
        this.headFill += chunk.length;
        return -1;
      }
      chunk.copy(head, this.headFill, 0, need);
      this.headFill = 0;
      const length = this.littleEndian ? head.readUInt32LE(0) : head.readUInt32BE(0);
      if (length > this.maxFrame) throw this.tooLarge(length);
      off = need;
      if (chunk.length - off >= length) {
        this.current = chunk;
        this.roomy = false; // the header came in earlier chunks
        this.stopped = this.onFrame(chunk.subarray(off, off + length)) === false;
        return off + length;
      }
      this.startBody(length, chunk, off);
      return -1;
    }
    const body = this.body;
    if (body === null) throw new InternalError('frame decoder: body missing'); // unreachable
    const take = Math.min(this.frameLength - this.bodyFill, chunk.length);
    const filled = this.bodyFill + take;
    let target = body;
    if (HEADROOM + filled > body.length) {
      // Grow geometrically, capped at the declared length: each byte is copied O(1) times.
      const payloadRoom = body.length - HEADROOM;
      target = Buffer.allocUnsafe(
        HEADROOM + Math.min(this.frameLength, Math.max(filled, payloadRoom * 2)),
      );
      body.copy(target, HEADROOM, HEADROOM, HEADROOM + this.bodyFill);
      this.body = target;
    }
    chunk.copy(target, HEADROOM + this.bodyFill, 0, take);
    this.bodyFill = filled;
    if (filled < this.frameLength) return -1;
    const payload = target.subarray(HEADROOM, HEADROOM + filled);
    if (this.recycling) this.assembled = target;
    this.frameLength = -1;
    this.body = null;
    this.bodyFill = 0;
    this.current = target;
    this.roomy = true;
    this.stopped = this.onFrame(payload) === false;
    return take;
  }

  private startBody(length: number, chunk: Buffer, from: number): void {
    const available = chunk.length - from;
    const capacity = Math.min(length, Math.max(MIN_ASSEMBLY, available * 2));
    // A recycling decoder takes a spare for a frame of 4-64 KiB when there is
    // one (smaller frames come from Node's own pool anyway). Without one it
    // allocates what the frame needs: a 5 KB frame must not cost 64 KiB
    // where nothing is recycled (TLS writes never flush synchronously).
    const spare =
      this.recycling && capacity > MIN_ASSEMBLY / 16 && capacity <= MIN_ASSEMBLY
        ? spares.pop()
        : undefined;
    const body = spare ?? Buffer.allocUnsafe(HEADROOM + capacity);
    chunk.copy(body, HEADROOM, from);
    this.frameLength = length;
    this.body = body;
    this.bodyFill = available;
  }

  private tooLarge(length: number): ProtocolError {
    this.reset();
    return new ProtocolError(
      'FRAME_TOO_LARGE',
      `frame of ${length} bytes exceeds the limit of ${this.maxFrame} bytes`,
    );
  }
}

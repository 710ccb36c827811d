import { FRAME_HEADER_BYTES, type ByteOrder } from '../protocol/byte-order.js';
import { checkFrameLength, encodeFrameHeader } from '../protocol/frame-encoder.js';
import { DEFAULT_MAX_FRAME } from '../limits.js';
import type { Connection } from './connection.js';

/** Payloads up to this size are copied into the batch buffer; larger ones are written as views. */
const COPY_BELOW = 4 * 1024;
/** Size of each batch buffer (bytes). */
const ARENA_BYTES = 64 * 1024;

const RESOLVED = Promise.resolve();

/**
 * writeFrameHeader() for a length already checked: plain byte stores, without
 * Buffer#writeUInt32BE's range checks (a fifth of the per-frame cost of
 * pipelined 64 B frames, measured in bench/).
 */
function putLength(target: Buffer, at: number, length: number, byteOrder: ByteOrder): void {
  if (byteOrder === 'u32le') {
    target[at] = length;
    target[at + 1] = length >>> 8;
    target[at + 2] = length >>> 16;
    target[at + 3] = length >>> 24;
  } else {
    target[at] = length >>> 24;
    target[at + 1] = length >>> 16;
    target[at + 2] = length >>> 8;
    target[at + 3] = length;
  }
}

/**
 * One batch buffer for the whole process, like Node's own Buffer pool: a
 * connection that sent once must not keep 64 KiB to itself (10 000 idle
 * connections). Each writer's frames stay contiguous because a writer that
 * takes over the arena first cuts the previous owner's bytes into its list.
 */
const shared = {
  arena: Buffer.allocUnsafeSlow(ARENA_BYTES),
  start: 0,
  fill: 0,
  owner: undefined as FrameWriter | undefined,
};

/**
 * Sends frames on a Connection, coalescing every frame produced in one turn
 * of the event loop into one write. A pipelining client's 1 000 small
 * requests in one TCP read become one reply write, not 1 000 (measured in
 * bench/: per-frame writes cost more than the framing itself).
 *
 * Small frames are copied into a shared arena next to their headers; large
 * payloads are not copied, only preceded by a 4-byte header (writev).
 */
export class FrameWriter {
  private readonly conn: Connection;
  private readonly byteOrder: ByteOrder;
  private readonly maxFrame: number;
  /** Buffers to write at the next flush, when there are any besides the arena's (created on first use). */
  private out: Uint8Array[] | undefined;
  private scheduled = false;
  /** Between hold() and release(): frames wait for release(), no flush is scheduled. */
  private held = false;

  /**
   * Writers with frames queued in this turn. One microtask flushes them all,
   * so a writer needs no flush closure of its own (10 000 idle connections
   * each had one). Each writer still writes its frames once, in order.
   */
  private static readonly due: FrameWriter[] = [];
  private static flushing = false;
  private static readonly flushDue = (): void => {
    const due = FrameWriter.due;
    let i = 0;
    try {
      // A flush may queue frames on a writer not yet in the list: it is appended and flushed too.
      for (; i < due.length; i++) {
        const writer = due[i] as FrameWriter;
        writer.scheduled = false;
        writer.flush();
      }
    } finally {
      if (i < due.length - 1) {
        // A flush threw: the writers after it are flushed in a microtask of their own.
        due.splice(0, i + 1);
        void RESOLVED.then(FrameWriter.flushDue);
      } else {
        due.length = 0;
        FrameWriter.flushing = false;
      }
    }
  };

  constructor(conn: Connection, options: { byteOrder?: ByteOrder; maxFrame?: number } = {}) {
    this.conn = conn;
    this.byteOrder = options.byteOrder ?? 'u32be';
    this.maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
  }

  /**
   * Queues one frame; it is written at the end of the current event-loop
   * turn (or by `release()`).
   *
   * `headroom`: the 4 bytes just before `payload`, in its ArrayBuffer, are
   * free (a FrameDecoder payload while its `headroom` is true). A large
   * payload then gets its header written there and goes out as one buffer:
   * TLS copies a multi-buffer write into one before it encrypts, so a 64 KiB
   * echo saves a 64 KiB copy (docs/PERFORMANCE.md, TLS).
   */
  send(payload: Uint8Array, headroom = false): void {
    const length = payload.length;
    checkFrameLength(length, this.maxFrame);
    if (length < COPY_BELOW) {
      const need = FRAME_HEADER_BYTES + length;
      if (shared.owner !== this) {
        shared.owner?.cut();
        shared.owner = this;
      }
      if (shared.fill + need > shared.arena.length) {
        this.cut();
        // The old arena's bytes may still sit in socket queues: never rewrite them.
        shared.arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
        shared.start = 0;
        shared.fill = 0;
      }
      putLength(shared.arena, shared.fill, length, this.byteOrder);
      shared.arena.set(payload, shared.fill + FRAME_HEADER_BYTES);
      shared.fill += need;
    } else if (headroom && payload.byteOffset >= FRAME_HEADER_BYTES) {
      const frame = Buffer.from(
        payload.buffer,
        payload.byteOffset - FRAME_HEADER_BYTES,
        FRAME_HEADER_BYTES + length,
      );
      putLength(frame, 0, length, this.byteOrder);
      this.cut();
      (this.out ??= []).push(frame);
    } else {
      this.cut();
      (this.out ??= []).push(
        encodeFrameHeader(length, { byteOrder: this.byteOrder, maxFrame: this.maxFrame }),
        payload,
      );
    }
    if (!this.scheduled && !this.held) this.schedule();
  }

  /**
   * Frames sent from now until `release()` are written by it, without the
   * end-of-turn microtask: for a caller that produces a batch synchronously,
   * such as the replies to one socket read (about 0.3 µs per request/response
   * turn, measured in bench/).
   */
  hold(): void {
    this.held = true;
  }

  /**
   * Ends `hold()`. Writes what was sent meanwhile at once, or, with
   * `flushNow` false (the caller is failing), at the end of this turn as
   * `send()` would have.
   */
  release(flushNow = true): void {
    this.held = false;
    if (flushNow) this.flush();
    else if (!this.scheduled && this.hasPending()) this.schedule();
  }

  private hasPending(): boolean {
    return (
      (this.out !== undefined && this.out.length > 0) ||
      (shared.owner === this && shared.fill > shared.start)
    );
  }

  private schedule(): void {
    this.scheduled = true;
    FrameWriter.due.push(this);
    if (!FrameWriter.flushing) {
      FrameWriter.flushing = true;
      // A promise reaction is the same microtask queue as queueMicrotask(),
      // without its per-call AsyncResource (~0.2 µs per request/response turn).
      void RESOLVED.then(FrameWriter.flushDue);
    }
  }

  /** Writes what is queued now. Returns the Connection's backpressure signal. */
  flush(): boolean {
    const out = this.out;
    if (out === undefined || out.length === 0) {
      // The common case, only small frames: one write of the arena bytes, no list.
      if (shared.owner !== this || shared.fill === shared.start) return true;
      const view = shared.arena.subarray(shared.start, shared.fill);
      shared.start = shared.fill;
      return this.conn.write(view);
    }
    this.cut();
    const ok = this.conn.writev(out);
    out.length = 0;
    return ok;
  }

  /** Moves this writer's pending arena bytes to its output list. */
  private cut(): void {
    if (shared.owner === this && shared.fill > shared.start) {
      (this.out ??= []).push(shared.arena.subarray(shared.start, shared.fill));
      shared.start = shared.fill;
    }
  }
}

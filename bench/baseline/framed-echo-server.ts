/**
 * The baseline sockit is measured against: a competent hand-written framed
 * echo on plain `node:net`, the code a careful engineer writes without a
 * framework. It does the same work as `EchoServer({ reply: 'echo' })`, or,
 * with `upper: true`, as `EchoServer()` in its default mode `upper`
 * (`sockit serve echo`):
 *
 * - parses 4-byte big-endian length-prefixed frames (SPEC §1.1), any chunking;
 * - answers each frame with a frame holding the same payload;
 * - builds every reply of one read batch into one output buffer and writes it
 *   with one `write()` (no per-frame writes);
 * - never concatenates the whole stream per chunk: a frame split across reads
 *   is kept as a list of views and copied once, straight into the reply;
 * - respects backpressure: when `write()` returns false it stops reading
 *   until 'drain';
 * - rejects a declared length above `maxFrame` before buffering its payload;
 * - `upper`: upper-cases ASCII letters of each reply payload in the output
 *   buffer (so no extra copy), four bytes at a time in plain JS
 *   (`upperAsciiRange`: SWAR on a Uint32Array view, a branch-free byte loop
 *   for the unaligned head and tail). No WebAssembly: that is what sockit
 *   does, and this is the code it is compared with.
 *
 * It has no timeouts, connection caps or error notices: it is the cost floor
 * of framing on node:net, not a production server.
 */
import { createServer, type Server, type Socket } from 'node:net';

const HEADER = 4;
const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;

export interface BaselineOptions {
  /** Largest payload accepted (bytes). @default 16 MiB */
  maxFrame?: number;
  /** Upper-case ASCII letters of every reply (sockit's default reply mode). @default false */
  upper?: boolean;
}

/** One byte upper-cased without a branch: 0x61..0x7a lose 0x20, every other byte stays. */
function upperByte(b: number): number {
  // (b + 0x1f) has bit 7 set from 'a' up, (b + 0x05) from '{' up; bytes ≥ 0x80 are excluded by ~b.
  return b ^ (((b + 0x1f) & ~(b + 0x05) & ~b & 0x80) >> 2);
}

/** A Uint32Array over the whole ArrayBuffer under `buf` (word k is bytes 4k..4k+3 of it). */
export function wordsOf(buf: Buffer): Uint32Array {
  return new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
}

/**
 * Upper-cases the ASCII letters of `buf[start, end)` in place, leaving every
 * other byte (UTF-8 included) alone: a byte loop to a 4-byte boundary, then
 * SWAR on 32-bit words (the same bit trick on four bytes at once: the low 7
 * bits of each byte plus 0x1f or 0x05 cannot carry into the next byte), then
 * the tail byte by byte. `words` is `wordsOf(buf)`, made once per output
 * buffer rather than once per frame.
 */
export function upperAsciiRange(
  buf: Buffer,
  start: number,
  end: number,
  words: Uint32Array = wordsOf(buf),
): void {
  const base = buf.byteOffset;
  let i = start;
  const head = Math.min(end - start, (4 - ((base + start) & 3)) & 3);
  for (const stop = start + head; i < stop; i++) buf[i] = upperByte(buf[i] as number);
  const first = (base + i) >> 2;
  const last = (base + end) >> 2;
  for (let k = first; k < last; k++) {
    const w = words[k] as number;
    const low = w & 0x7f7f7f7f;
    const mask = (low + 0x1f1f1f1f) & ~(low + 0x05050505) & ~w & 0x80808080;
    words[k] = w ^ (mask >>> 2);
  }
  if (last > first) i = (last << 2) - base;
  for (; i < end; i++) buf[i] = upperByte(buf[i] as number);
}

/** Reads a big-endian u32 spread over the first 4 bytes of `pieces`. */
function headerOf(pieces: readonly Buffer[]): number {
  let value = 0;
  let got = 0;
  for (const piece of pieces) {
    for (let i = 0; i < piece.length && got < HEADER; i++, got++) {
      value = value * 256 + (piece[i] as number);
    }
    if (got === HEADER) break;
  }
  return value;
}

/** Serves one connection. */
export function serveFramedEcho(socket: Socket, options: BaselineOptions = {}): void {
  const maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
  const upper = options.upper ?? false;
  socket.setNoDelay(true);

  // A frame split across reads: its pieces (header included) as views on the chunks.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** Header + payload bytes of the pending frame; -1 while its header is incomplete. */
  let pendingNeed = -1;

  const onData = (chunk: Buffer): void => {
    const end = chunk.length;
    let off = 0;
    let outBytes = 0;
    let done: Buffer[] | undefined; // a split frame completed by this chunk
    let doneBytes = 0;

    if (pendingBytes > 0) {
      if (pendingNeed < 0) {
        const take = Math.min(HEADER - pendingBytes, end);
        pending.push(chunk.subarray(0, take));
        pendingBytes += take;
        off = take;
        if (pendingBytes < HEADER) return;
        const length = headerOf(pending);
        if (length > maxFrame) {
          socket.destroy();
          return;
        }
        pendingNeed = HEADER + length;
      }
      const take = Math.min(pendingNeed - pendingBytes, end - off);
      if (take > 0) pending.push(chunk.subarray(off, off + take));
      pendingBytes += take;
      off += take;
      if (pendingBytes < pendingNeed) return;
      done = pending;
      doneBytes = pendingNeed;
      outBytes += doneBytes;
      pending = [];
      pendingBytes = 0;
      pendingNeed = -1;
    }

    // Whole frames inside this chunk: [first, off). Their replies are built below.
    const first = off;
    while (end - off >= HEADER) {
      const length = chunk.readUInt32BE(off);
      if (length > maxFrame) {
        socket.destroy();
        return;
      }
      const stop = off + HEADER + length;
      if (stop > end) break;
      outBytes += HEADER + length;
      off = stop;
    }
    const last = off;

    // The start of the next split frame: keep a view, no copy yet.
    if (off < end) {
      pending.push(chunk.subarray(off));
      pendingBytes = end - off;
      if (pendingBytes >= HEADER) {
        const length = chunk.readUInt32BE(off);
        if (length > maxFrame) {
          socket.destroy();
          return;
        }
        pendingNeed = HEADER + length;
      }
    }

    if (outBytes === 0) return;

    // One output buffer for every reply of this read, one write.
    const out = Buffer.allocUnsafe(outBytes);
    const words = upper ? wordsOf(out) : undefined;
    let pos = 0;
    if (done) {
      out.writeUInt32BE(doneBytes - HEADER, 0);
      pos = HEADER;
      let skip = HEADER; // the header bytes at the front of the pieces
      for (const piece of done) {
        if (skip >= piece.length) {
          skip -= piece.length;
          continue;
        }
        pos += piece.copy(out, pos, skip);
        skip = 0;
      }
      if (words) upperAsciiRange(out, HEADER, pos, words);
    }
    // Each reply: a fresh length prefix, then the payload copied in.
    for (let at = first; at < last;) {
      const length = chunk.readUInt32BE(at);
      out.writeUInt32BE(length, pos);
      pos += HEADER;
      at += HEADER;
      const copied = chunk.copy(out, pos, at, at + length);
      if (words) upperAsciiRange(out, pos, pos + copied, words);
      pos += copied;
      at += length;
    }
    if (!socket.write(out)) socket.pause();
  };

  socket.on('data', onData);
  socket.on('drain', () => {
    socket.resume();
  });
  socket.on('end', () => {
    socket.end();
  });
  socket.on('error', () => {
    socket.destroy();
  });
}

/** A TCP server running the baseline on every connection (`upper: true`: the upper-casing one). */
export function createFramedEchoServer(options: BaselineOptions = {}): Server {
  return createServer({ allowHalfOpen: true }, (socket) => {
    serveFramedEcho(socket, options);
  });
}

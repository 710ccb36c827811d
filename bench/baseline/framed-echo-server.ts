/**
 * The baseline sockit is measured against: a competent hand-written framed
 * echo on plain `node:net`, the code a careful engineer writes without a
 * framework. It does the same work as `EchoServer({ reply: 'echo' })`:
 *
 * - parses 4-byte big-endian length-prefixed frames (SPEC §1.1), any chunking;
 * - answers each frame with a frame holding the same payload;
 * - builds every reply of one read batch into one output buffer and writes it
 *   with one `write()` (no per-frame writes);
 * - never concatenates the whole stream per chunk: a frame split across reads
 *   is kept as a list of views and copied once, straight into the reply;
 * - respects backpressure: when `write()` returns false it stops reading
 *   until 'drain';
 * - rejects a declared length above `maxFrame` before buffering its payload.
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
    }
    // Each reply: a fresh length prefix, then the payload copied in.
    for (let at = first; at < last;) {
      const length = chunk.readUInt32BE(at);
      out.writeUInt32BE(length, pos);
      pos += HEADER;
      at += HEADER;
      pos += chunk.copy(out, pos, at, at + length);
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

/** A TCP server running the baseline on every connection. */
export function createFramedEchoServer(options: BaselineOptions = {}): Server {
  return createServer({ allowHalfOpen: true }, (socket) => {
    serveFramedEcho(socket, options);
  });
}

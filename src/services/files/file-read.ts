import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { ServiceError } from '../../errors.js';

/** Bytes per staging buffer: one disk write each. Two are used in turn. */
export const STAGE_BYTES = 1024 * 1024;

/**
 * Feeds bytes [0, length) of an open file to `hashes` (resume: the bytes the
 * other side already holds), reading STAGE_BYTES at a time.
 */
export async function hashPrefix(
  fh: FileHandle,
  length: number,
  hashes: readonly Hash[],
): Promise<void> {
  const buf = Buffer.allocUnsafe(Math.min(STAGE_BYTES, Math.max(length, 1)));
  let pos = 0;
  while (pos < length) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - pos), pos);
    if (bytesRead === 0)
      throw new ServiceError('BAD_OFFSET', 'the partial file is shorter than the offset');
    const piece = buf.subarray(0, bytesRead);
    for (const h of hashes) h.update(piece);
    pos += bytesRead;
  }
}

/**
 * Read buffers used again once the socket has sent them: `sent(piece)` after
 * handing a piece to the socket, `reclaim()` once nothing is queued (the
 * socket holds a buffer until its write completes). Fresh 1 MiB buffers for
 * every read cost a page fault per 4 KiB and GC work; a transfer needs three.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  private lent: ArrayBuffer[] = [];

  take(): Buffer {
    const reused = this.free.pop();
    return reused ? Buffer.from(reused) : Buffer.allocUnsafeSlow(STAGE_BYTES);
  }

  sent(piece: Buffer): void {
    this.lent.push(piece.buffer as ArrayBuffer);
  }

  reclaim(): void {
    for (const b of this.lent) this.free.push(b);
    this.lent = [];
  }
}

/**
 * Reads bytes [start, end) of an open file in STAGE_BYTES pieces (from
 * `pool`, else fresh buffers a socket write may hold), with the next read
 * already under way while the caller sends the current piece. A file that
 * ends early is an IO_ERROR: it changed while it was being read.
 */
export async function* readRange(
  fh: FileHandle,
  start: number,
  end: number,
  pool?: BufferPool,
): AsyncGenerator<Buffer> {
  const read = async (at: number): Promise<Buffer> => {
    const length = Math.min(STAGE_BYTES, end - at);
    const buf = pool ? pool.take() : Buffer.allocUnsafe(length);
    const { bytesRead } = await fh.read(buf, 0, length, at);
    return bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
  };
  let pos = start;
  let next: Promise<Buffer> | undefined = pos < end ? read(pos) : undefined;
  while (next) {
    const piece: Buffer = await next;
    next = undefined;
    if (piece.length === 0) {
      throw new ServiceError('IO_ERROR', 'the file shrank while it was being read');
    }
    pos += piece.length;
    if (pos < end) {
      next = read(pos);
      next.catch(() => undefined); // awaited on the next turn, unless the caller stops early
    }
    yield piece;
  }
}

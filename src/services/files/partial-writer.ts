import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { ServiceError, SockitError } from '../../errors.js';

/** Bytes per staging buffer: one disk write each. Two are used in turn. */
export const STAGE_BYTES = 1024 * 1024;

/**
 * An fs error as a SockitError for a peer: a stable code and a message that
 * never names a server path (the original stays as `cause`, for the logs).
 */
export function fsError(err: unknown, what: string): SockitError {
  if (err instanceof SockitError) return err;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (errno) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new ServiceError('NO_SPACE', `${what}: no space left on the storage device`, {
        cause: err,
      });
    case 'EFBIG':
      return new ServiceError('TOO_LARGE', `${what}: file too large for the storage`, {
        cause: err,
      });
    case 'EEXIST':
      return new ServiceError('EXISTS', `${what}: already exists`, { cause: err });
    case 'ENOENT':
      return new ServiceError('NOT_FOUND', `${what}: no such file`, { cause: err });
    case 'ELOOP':
    case 'ENOTDIR':
    case 'EISDIR':
      return new ServiceError('BAD_NAME', `${what}: a path component is not a plain directory`, {
        cause: err,
      });
    default:
      return new ServiceError('IO_ERROR', `${what}: input/output error`, { cause: err });
  }
}

/** Writes `length` bytes of `buffer` at `position`, however many calls it takes. */
export async function writeFully(
  fh: FileHandle,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(buffer, done, length - done, position + done);
    if (bytesWritten <= 0) throw new ServiceError('IO_ERROR', 'write made no progress');
    done += bytesWritten;
  }
}

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

/** Writes `chunks` (in order) at `position`, however many writev calls it takes. */
async function writevFully(fh: FileHandle, chunks: Buffer[], position: number): Promise<void> {
  let rest = chunks;
  let at = position;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, at);
    if (bytesWritten <= 0) throw new ServiceError('IO_ERROR', 'write made no progress');
    at += bytesWritten;
    let skip = bytesWritten;
    const next: Buffer[] = [];
    for (const chunk of rest) {
      if (skip >= chunk.length) skip -= chunk.length;
      else {
        next.push(skip > 0 ? chunk.subarray(skip) : chunk);
        skip = 0;
      }
    }
    rest = next;
  }
}

/**
 * Streams a body into an open partial file: every chunk is hashed (sha256,
 * and md5 when asked) as it arrives and kept in a batch; a batch of
 * STAGE_BYTES is written with one writev while the next one fills. `push`
 * returns a promise only when a full batch waits for the one in flight: the
 * caller pauses its input until it settles. So at most two batches are held,
 * whatever the file size, and the disk write of one overlaps the network
 * read of the next.
 *
 * Chunks are kept, not copied: they must not be reused by their producer
 * (socket reads never are; EnvelopeChannel passes them through as views).
 */
export class PartialWriter {
  readonly sha256: Hash = createHash('sha256');
  readonly md5: Hash | undefined;
  private readonly fh: FileHandle;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private inflight: Promise<void> | undefined;
  private failure: unknown;
  private stopped = false;
  /** File offset of the next batch. */
  private position: number;
  /** Bytes known to be in the file (written, not necessarily synced). */
  written: number;

  constructor(fh: FileHandle, start: number, options: { md5?: boolean } = {}) {
    this.fh = fh;
    this.position = start;
    this.written = start;
    this.md5 = options.md5 ? createHash('md5') : undefined;
  }

  /** Bytes received so far, batched or written. */
  get received(): number {
    return this.position + this.batchBytes;
  }

  /** Takes a chunk; a returned promise means: pause until it settles. */
  push(chunk: Buffer): Promise<void> | undefined {
    this.check();
    if (this.stopped || chunk.length === 0) return undefined;
    this.sha256.update(chunk);
    this.md5?.update(chunk);
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes < STAGE_BYTES) return undefined;
    if (!this.inflight) {
      this.rotate();
      return undefined;
    }
    return this.inflight.then(() => {
      this.check();
      if (!this.stopped && this.batchBytes > 0) this.rotate();
    });
  }

  /** Writes what is batched, then fsyncs. */
  async flush(): Promise<void> {
    await this.idle();
    this.check();
    if (this.batchBytes > 0) this.rotate();
    await this.idle();
    this.check();
    await this.fh.sync();
  }

  /**
   * Stops taking bytes and makes the ones received durable (a broken
   * upload's partial keeps everything that arrived). Never throws.
   */
  async keep(): Promise<void> {
    this.stopped = true;
    try {
      await this.idle();
      if (this.failure === undefined && this.batchBytes > 0) {
        this.rotate();
        await this.idle();
      }
      await this.fh.sync();
    } catch {
      // The partial keeps what reached the disk; resume asks the server how much that is.
    }
  }

  /** Stops taking bytes, without writing what is batched. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  /** Waits until no write is in flight. */
  private async idle(): Promise<void> {
    while (this.inflight) await this.inflight;
  }

  private check(): void {
    if (this.failure !== undefined) throw fsError(this.failure, 'write');
  }

  /** Starts writing the current batch and begins a new one. */
  private rotate(): void {
    const chunks = this.batch;
    const n = this.batchBytes;
    const at = this.position;
    this.batch = [];
    this.batchBytes = 0;
    this.position += n;
    this.inflight = writevFully(this.fh, chunks, at)
      .then(
        () => {
          this.written += n;
        },
        (err: unknown) => {
          this.failure ??= err;
        },
      )
      .finally(() => {
        this.inflight = undefined;
      });
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

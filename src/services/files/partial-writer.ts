import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { ServiceError } from '../../errors.js';
import { STAGE_BYTES } from './file-read.js';
import { fsError } from './fs-error.js';

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

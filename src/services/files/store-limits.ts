import { readdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceError } from '../../errors.js';
import { lstatOrUndefined } from './disk.js';

export interface StoreLimitOptions {
  /** Largest file accepted (bytes). @default unlimited */
  maxFileSize?: number;
  /** Bytes all files and partial files together may use. @default unlimited */
  maxTotal?: number;
}

/**
 * What the store may hold: one upload per (folded) name at a time, no file
 * over `maxFileSize`, all files and partials within `maxTotal` counting the
 * bytes uploads in progress may still add, and never more than the disk has
 * free. Usage is measured from the disk, and again after anything changes it.
 */
export class StoreLimits {
  readonly maxFileSize: number;
  readonly maxTotal: number;
  /** Uploads in progress, by folded name, with the bytes each may still add. */
  private readonly active = new Map<string, number>();
  private usage: number | undefined;

  constructor(
    private readonly root: string,
    options: StoreLimitOptions,
  ) {
    this.maxFileSize = options.maxFileSize ?? Number.MAX_SAFE_INTEGER;
    this.maxTotal = options.maxTotal ?? Number.MAX_SAFE_INTEGER;
  }

  /** TOO_LARGE for a file over the per-file limit. */
  checkSize(size: number): void {
    if (size > this.maxFileSize) {
      throw new ServiceError(
        'TOO_LARGE',
        `${size} bytes is more than this server's limit of ${this.maxFileSize} per file`,
      );
    }
  }

  /** Marks an upload of `key` in progress; EXISTS if one already is. */
  claim(key: string): void {
    if (this.active.has(key)) {
      throw new ServiceError('EXISTS', 'an upload of this name is already in progress');
    }
    this.active.set(key, 0);
  }

  /**
   * Reserves `needed` more bytes for the upload of `key`, of which
   * `reclaimed` replace bytes already counted (a partial cut back to the
   * offset): QUOTA_EXCEEDED past `maxTotal`, NO_SPACE past the free disk.
   */
  async reserve(key: string, needed: number, reclaimed: number): Promise<void> {
    const usage = await this.currentUsage();
    let reserved = 0;
    for (const bytes of this.active.values()) reserved += bytes;
    if (usage + reserved - reclaimed + needed > this.maxTotal) {
      throw new ServiceError(
        'QUOTA_EXCEEDED',
        `storing ${needed} more bytes would pass this server's total of ${this.maxTotal}`,
      );
    }
    const fs = await statfs(this.root);
    if (needed > fs.bavail * fs.bsize) {
      throw new ServiceError(
        'NO_SPACE',
        `the storage has ${fs.bavail * fs.bsize} bytes free, ${needed} are needed`,
      );
    }
    this.active.set(key, needed);
  }

  /** An upload refused before it began: nothing on disk changed. */
  unclaim(key: string): void {
    this.active.delete(key);
  }

  /** An upload ended (stored, kept or discarded): its bytes are counted from the disk again. */
  release(key: string): void {
    this.active.delete(key);
    this.usage = undefined;
  }

  /** Usage is recounted on next need (after a removal whose size is unsure). */
  forgetUsage(): void {
    this.usage = undefined;
  }

  private async currentUsage(): Promise<number> {
    if (this.maxTotal === Number.MAX_SAFE_INTEGER) return 0;
    this.usage ??= await measure(this.root);
    return this.usage;
  }
}

/** Bytes in regular files under `dir` (partials included), symlinks not followed. */
async function measure(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await measure(path);
    else if (entry.isFile()) total += (await lstatOrUndefined(path))?.size ?? 0;
  }
  return total;
}

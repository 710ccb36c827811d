import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, realpath, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { PARTIAL_DIR, checkName, foldName, type ListEntry } from './messages.js';
import { listTree } from './listing.js';
import { fsError } from './fs-error.js';
import { isErrno, lstatOrUndefined } from './disk.js';
import { DEFAULT_PARTIAL_TTL_MS } from './limits.js';
import { SafeTree } from './safe-path.js';
import { StoreLimits, type StoreLimitOptions } from './store-limits.js';
import { beginUpload, type PutParams, type Upload, type UploadSpace } from './upload.js';

export interface FileStoreOptions extends StoreLimitOptions {
  /** The storage root; created (mode 0700) if missing. */
  root: string;
  /** Let `put` with `"overwrite":true` replace a file. @default false */
  allowOverwrite?: boolean;
  /** @default 7 days */
  partialTtlMs?: number;
  logger: Logger;
}

/**
 * The files service's storage under one root: confinement in safe-path.ts,
 * limits in store-limits.ts, uploads (partial, verify, fsync, place) in
 * upload.ts, listings in listing.ts. Partials live in one private directory,
 * keyed by the folded name.
 */
export class FileStore implements UploadSpace {
  readonly allowOverwrite: boolean;
  readonly tree: SafeTree;
  readonly limits: StoreLimits;
  private readonly log: Logger;

  private constructor(
    readonly root: string,
    readonly partialDir: string,
    options: FileStoreOptions,
  ) {
    this.allowOverwrite = options.allowOverwrite ?? false;
    this.tree = new SafeTree(root);
    this.limits = new StoreLimits(root, options);
    this.log = options.logger;
  }

  /** Creates the root (0700) and the partial directory, and removes stale partials. */
  static async open(options: FileStoreOptions): Promise<FileStore> {
    await mkdir(options.root, { recursive: true, mode: 0o700 });
    const root = await realpath(options.root);
    const partialDir = join(root, PARTIAL_DIR);
    try {
      await mkdir(partialDir, { mode: 0o700 });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    const info = await lstat(partialDir);
    if (!info.isDirectory()) {
      throw new ServiceError('IO_ERROR', `${partialDir} is not a directory`);
    }
    const store = new FileStore(root, partialDir, options);
    await store.removeStalePartials(options.partialTtlMs ?? DEFAULT_PARTIAL_TTL_MS);
    return store;
  }

  /** Opens (or resumes) the partial file of an upload. */
  beginPut(params: PutParams): Promise<Upload> {
    return beginUpload(this, params);
  }

  /** A regular file to send: opened with O_NOFOLLOW, never a FIFO or a device. */
  openForRead(name: string): Promise<{ fh: FileHandle; size: number }> {
    return this.tree.openRegular(checkName(name));
  }

  /** A file's size and mtime, and the size of its partial upload if there is one. */
  async stat(name: string): Promise<{ fileSize?: number; mtimeMs?: number; partial?: number }> {
    const parts = checkName(name);
    try {
      const existing = await this.tree.lookup(parts);
      const partial = await lstatOrUndefined(this.partialPathOf(name));
      const out: { fileSize?: number; mtimeMs?: number; partial?: number } = {};
      if (existing?.isFile()) {
        out.fileSize = existing.size;
        out.mtimeMs = Math.round(existing.mtimeMs);
      }
      if (partial?.isFile()) out.partial = partial.size;
      if (out.fileSize === undefined && out.partial === undefined) {
        throw new ServiceError('NOT_FOUND', 'no such file');
      }
      return out;
    } catch (err) {
      throw fsError(err, 'stat');
    }
  }

  /** Regular files under the root (or `prefix`): see listTree. */
  list(prefix?: string): AsyncGenerator<ListEntry> {
    return listTree(this.tree, prefix);
  }

  /** Where the partial upload of `name` lives: one flat private directory, keyed by the folded name. */
  partialPathOf(name: string): string {
    return join(this.partialDir, createHash('sha256').update(foldName(name)).digest('hex'));
  }

  private async removeStalePartials(ttlMs: number): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.partialDir)) {
      const path = join(this.partialDir, name);
      const info = await lstatOrUndefined(path);
      if (info && now - info.mtimeMs > ttlMs) {
        await unlink(path).catch(() => undefined);
        this.log.info({ event: 'partial_expired', bytes: info.size });
      }
    }
  }
}

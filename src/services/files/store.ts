import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import {
  link,
  lstat,
  mkdir,
  open,
  opendir,
  readdir,
  realpath,
  rename,
  statfs,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { PARTIAL_DIR, checkName, foldName, isValidName, type ListEntry } from './messages.js';
import { PartialWriter, fsError, hashPrefix } from './partial-writer.js';

const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK } = constants;

/** Partial uploads untouched for this long are removed when the server starts (ms): 7 days. */
export const DEFAULT_PARTIAL_TTL_MS = 7 * 24 * 3600_000;

export interface FileStoreOptions {
  /** The storage root; created (mode 0700) if missing. */
  root: string;
  /** Let `put` with `"overwrite":true` replace a file. @default false */
  allowOverwrite?: boolean;
  /** Largest file accepted (bytes). @default unlimited */
  maxFileSize?: number;
  /** Bytes all files and partial files together may use. @default unlimited */
  maxTotal?: number;
  /** @default 7 days */
  partialTtlMs?: number;
  logger: Logger;
}

export interface PutParams {
  name: string;
  size: number;
  offset: number;
  overwrite: boolean;
  md5: boolean;
}

function isErrno(err: unknown, ...codes: string[]): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && codes.includes(code);
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** fsyncs a directory, so a rename or link in it survives a crash. */
async function syncDir(path: string): Promise<void> {
  const fh = await open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * One upload in progress: the partial file open, the writer hashing into it.
 * `commit` verifies and renames into place; `keep` leaves a resumable
 * partial; `discard` removes it.
 */
export class Upload {
  readonly writer: PartialWriter;
  private settled = false;

  constructor(
    private readonly store: FileStore,
    readonly name: string,
    readonly parts: string[],
    readonly size: number,
    readonly offset: number,
    readonly overwrite: boolean,
    readonly partialPath: string,
    private readonly fh: FileHandle,
    private readonly key: string,
    md5: boolean,
  ) {
    // md5 only for the tutorial header that carries one: it costs as much as the sha256.
    this.writer = new PartialWriter(fh, offset, { md5 });
  }

  /** The body is complete: fsync, check the hashes, rename into place. Returns the sha256. */
  async commit(expected: { sha256?: string; md5?: string }): Promise<string> {
    try {
      await this.writer.flush();
      if (this.writer.written !== this.size) {
        throw new ServiceError('IO_ERROR', 'the partial file does not hold the whole body');
      }
      const sha256 = this.writer.sha256.digest('hex');
      const md5 = this.writer.md5?.digest('hex');
      if (
        (expected.sha256 !== undefined && expected.sha256 !== sha256) ||
        (expected.md5 !== undefined && expected.md5 !== md5)
      ) {
        throw new ServiceError(
          'HASH_MISMATCH',
          `the ${expected.sha256 !== undefined ? 'sha256' : 'md5'} of the bytes received differs from the one announced; nothing was stored`,
        );
      }
      await this.fh.close();
      this.settled = true;
      await this.store.place(this);
      return sha256;
    } catch (err) {
      await this.discard();
      throw fsError(err, 'store');
    } finally {
      this.store.release(this.key);
    }
  }

  /** The connection broke: keep what arrived, durable, for a resume. */
  async keep(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await this.writer.keep();
    await this.fh.close().catch(() => undefined);
    this.store.release(this.key);
  }

  /** Failed for good (hash, disk full): remove the partial. */
  async discard(): Promise<void> {
    if (!this.settled) {
      this.settled = true;
      await this.writer.stop();
      await this.fh.close().catch(() => undefined);
    }
    await unlink(this.partialPath).catch(() => undefined);
    this.store.forgetUsage();
    this.store.release(this.key);
  }
}

/**
 * The files service's storage: names checked (messages.ts), every parent
 * directory walked with lstat so a planted symlink cannot lead out of the
 * root, files opened with O_NOFOLLOW, partials created with O_EXCL in one
 * private directory, and finished files linked into place (no overwrite)
 * or renamed (overwrite), then the directory fsynced.
 */
export class FileStore {
  readonly allowOverwrite: boolean;
  private readonly maxFileSize: number;
  private readonly maxTotal: number;
  private readonly log: Logger;
  /** Uploads in progress, by folded name, with the bytes each may still add. */
  private readonly active = new Map<string, number>();
  private usage: number | undefined;

  private constructor(
    readonly root: string,
    private readonly partialDir: string,
    options: FileStoreOptions,
  ) {
    this.allowOverwrite = options.allowOverwrite ?? false;
    this.maxFileSize = options.maxFileSize ?? Number.MAX_SAFE_INTEGER;
    this.maxTotal = options.maxTotal ?? Number.MAX_SAFE_INTEGER;
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

  /** An upload ended (stored, kept or discarded): its bytes are counted from the disk again. */
  release(key: string): void {
    this.active.delete(key);
    this.usage = undefined;
  }

  /** Usage is recounted on next need (after a removal whose size is unsure). */
  forgetUsage(): void {
    this.usage = undefined;
  }

  /** Opens (or resumes) the partial file of an upload. Every check happens before any body byte is read. */
  async beginPut(params: PutParams): Promise<Upload> {
    const { name, size, offset, overwrite } = params;
    const parts = checkName(name);
    if (size > this.maxFileSize) {
      throw new ServiceError(
        'TOO_LARGE',
        `${size} bytes is more than this server's limit of ${this.maxFileSize} per file`,
      );
    }
    if (offset > size) throw new ServiceError('BAD_OFFSET', 'offset is beyond the size');
    if (overwrite && !this.allowOverwrite) {
      throw new ServiceError('NOT_ALLOWED', 'this server does not allow overwriting files');
    }
    const key = foldName(name);
    if (this.active.has(key)) {
      throw new ServiceError('EXISTS', 'an upload of this name is already in progress');
    }
    this.active.set(key, 0);
    let fh: FileHandle | undefined;
    try {
      const existing = await this.lookup(parts);
      if (existing !== undefined) {
        if (!existing.isFile())
          throw new ServiceError('EXISTS', 'a directory or special file has that name');
        if (!overwrite) {
          throw new ServiceError(
            'EXISTS',
            this.allowOverwrite
              ? 'a file with that name exists (send "overwrite":true to replace it)'
              : 'a file with that name exists',
          );
        }
      }
      const partialPath = this.partialPathOf(name);
      const partial = await lstatOrUndefined(partialPath);
      const held = partial?.isFile() ? partial.size : 0;
      if (offset > held) {
        throw new ServiceError(
          'BAD_OFFSET',
          `offset ${offset} is beyond the ${held} bytes this server holds of that upload`,
        );
      }
      const needed = size - offset;
      const usage = await this.currentUsage();
      let reserved = 0;
      for (const bytes of this.active.values()) reserved += bytes;
      if (usage + reserved - (held - offset) + needed > this.maxTotal) {
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
      // Directories are created only now that the upload is acceptable.
      await this.walk(parts, true);
      if (offset > 0) {
        fh = await open(partialPath, O_RDWR | O_NOFOLLOW);
        if (held > offset) {
          await fh.truncate(offset);
          this.forgetUsage();
        }
      } else {
        if (partial !== undefined) {
          await unlink(partialPath);
          this.forgetUsage();
        }
        fh = await open(partialPath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      }
      const upload = new Upload(
        this,
        name,
        parts,
        size,
        offset,
        overwrite,
        partialPath,
        fh,
        key,
        params.md5,
      );
      if (offset > 0) {
        const hashes = [upload.writer.sha256];
        if (upload.writer.md5) hashes.push(upload.writer.md5);
        await hashPrefix(fh, offset, hashes);
      }
      return upload;
    } catch (err) {
      await fh?.close().catch(() => undefined);
      this.active.delete(key);
      throw fsError(err, 'put');
    }
  }

  /** Moves a verified partial into place, then fsyncs both directories. */
  async place(upload: Upload): Promise<void> {
    // Walk again: a parent replaced by a symlink since beginPut is caught here.
    const dir = (await this.walk(upload.parts, true)) as string;
    const last = upload.parts[upload.parts.length - 1] as string;
    await this.checkCollision(dir, last);
    const target = join(dir, last);
    if (upload.overwrite) {
      const old = await lstatOrUndefined(target);
      if (old !== undefined && !old.isFile()) {
        throw new ServiceError('EXISTS', 'a directory or special file has that name');
      }
      await rename(upload.partialPath, target); // replaces a name, never follows it
    } else {
      // link() fails with EEXIST if anything, even a dangling symlink, holds the name.
      await link(upload.partialPath, target);
      await unlink(upload.partialPath);
    }
    await syncDir(dir);
    await syncDir(this.partialDir);
    this.forgetUsage();
  }

  /** A regular file to send: opened with O_NOFOLLOW, never a FIFO or a device. */
  async openForRead(name: string): Promise<{ fh: FileHandle; size: number }> {
    const parts = checkName(name);
    let fh: FileHandle | undefined;
    try {
      const dir = await this.walk(parts, false);
      if (dir === undefined) throw new ServiceError('NOT_FOUND', 'no such file');
      fh = await open(
        join(dir, parts[parts.length - 1] as string),
        O_RDONLY | O_NOFOLLOW | O_NONBLOCK,
      );
      const info = await fh.stat();
      if (!info.isFile()) throw new ServiceError('NOT_FOUND', 'no such file');
      return { fh, size: info.size };
    } catch (err) {
      await fh?.close().catch(() => undefined);
      if (isErrno(err, 'ELOOP')) throw new ServiceError('NOT_FOUND', 'no such file');
      throw fsError(err, 'get');
    }
  }

  /** A file's size and mtime, and the size of its partial upload if there is one. */
  async stat(name: string): Promise<{ fileSize?: number; mtimeMs?: number; partial?: number }> {
    const parts = checkName(name);
    try {
      const existing = await this.lookup(parts);
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

  /**
   * Regular files under the root (or `prefix`), depth first, each directory
   * sorted. Symlinks, special files, partials and names that break the rules
   * are left out: they could not be fetched anyway.
   */
  async *list(prefix?: string): AsyncGenerator<ListEntry> {
    const parts = prefix === undefined ? [] : checkName(prefix);
    let start = this.root;
    if (parts.length > 0) {
      // Walking "prefix/x" checks every component of the prefix as a plain directory.
      const dir = await this.walk([...parts, 'x'], false).catch((err: unknown) => {
        throw fsError(err, 'list');
      });
      if (dir === undefined) throw new ServiceError('NOT_FOUND', 'no such directory');
      start = dir;
    }
    yield* this.listDir(start, parts.join('/'));
  }

  private async *listDir(dir: string, rel: string): AsyncGenerator<ListEntry> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const name = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (rel === '' && entry.name === PARTIAL_DIR) continue;
      if (!isValidName(name)) continue;
      if (entry.isDirectory()) {
        yield* this.listDir(join(dir, entry.name), name);
      } else if (entry.isFile()) {
        const info = await lstatOrUndefined(join(dir, entry.name));
        if (info?.isFile()) yield { name, size: info.size, mtimeMs: Math.round(info.mtimeMs) };
      }
    }
  }

  /** Where the partial upload of `name` lives: one flat private directory, keyed by the folded name. */
  partialPathOf(name: string): string {
    return join(this.partialDir, createHash('sha256').update(foldName(name)).digest('hex'));
  }

  /** lstat of the final component, or undefined when it (or a parent) does not exist. */
  private async lookup(parts: string[]): Promise<Stats | undefined> {
    const dir = await this.walk(parts, false);
    if (dir === undefined) return undefined;
    return lstatOrUndefined(join(dir, parts[parts.length - 1] as string));
  }

  /**
   * Walks the parent directories of `parts` from the root, one lstat per
   * component: each must be a real directory (a symlink, even to a directory
   * inside the root, is refused). With `create`, missing ones are made
   * (0700) after a case/Unicode collision check. Returns the parent's path,
   * or undefined when one is missing and `create` is false.
   */
  private async walk(parts: readonly string[], create: boolean): Promise<string | undefined> {
    let dir = this.root;
    for (const part of parts.slice(0, -1)) {
      const next = join(dir, part);
      let info = await lstatOrUndefined(next);
      if (info === undefined) {
        if (!create) return undefined;
        await this.checkCollision(dir, part);
        try {
          await mkdir(next, { mode: 0o700 });
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw err;
        }
        info = await lstat(next);
      }
      if (info.isSymbolicLink() || !info.isDirectory()) {
        throw new ServiceError('BAD_NAME', 'a parent in that name is not a plain directory');
      }
      dir = next;
    }
    return dir;
  }

  /** EXISTS if `dir` holds a different name that folds to the same key as `part`. */
  private async checkCollision(dir: string, part: string): Promise<void> {
    const key = foldName(part);
    const handle = await opendir(dir);
    for await (const entry of handle) {
      if (entry.name !== part && foldName(entry.name) === key) {
        throw new ServiceError(
          'EXISTS',
          'the name collides with an existing name once case and Unicode forms are folded',
        );
      }
    }
  }

  private async currentUsage(): Promise<number> {
    if (this.maxTotal === Number.MAX_SAFE_INTEGER) return 0;
    this.usage ??= await this.measure(this.root);
    return this.usage;
  }

  /** Bytes in regular files under `dir` (partials included), symlinks not followed. */
  private async measure(dir: string): Promise<number> {
    let total = 0;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return 0;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) total += await this.measure(path);
      else if (entry.isFile()) total += (await lstatOrUndefined(path))?.size ?? 0;
    }
    return total;
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

import { constants } from 'node:fs';
import { link, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceError } from '../../errors.js';
import { checkName, foldName } from './messages.js';
import { hashPrefix } from './file-read.js';
import { fsError } from './fs-error.js';
import { PartialWriter } from './partial-writer.js';
import { lstatOrUndefined, syncDir } from './disk.js';
import type { SafeTree } from './safe-path.js';
import type { StoreLimits } from './store-limits.js';

const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

export interface PutParams {
  name: string;
  size: number;
  offset: number;
  overwrite: boolean;
  md5: boolean;
}

/** The part of the store an upload works in. */
export interface UploadSpace {
  readonly tree: SafeTree;
  readonly limits: StoreLimits;
  readonly partialDir: string;
  readonly allowOverwrite: boolean;
  partialPathOf(name: string): string;
}

/**
 * Opens (or resumes) the partial file of an upload. Every check happens
 * before any body byte is read; partials are created with O_EXCL in one
 * private directory.
 */
export async function beginUpload(space: UploadSpace, params: PutParams): Promise<Upload> {
  const { name, size, offset, overwrite } = params;
  const { tree, limits } = space;
  const parts = checkName(name);
  limits.checkSize(size);
  if (offset > size) throw new ServiceError('BAD_OFFSET', 'offset is beyond the size');
  if (overwrite && !space.allowOverwrite) {
    throw new ServiceError('NOT_ALLOWED', 'this server does not allow overwriting files');
  }
  const key = foldName(name);
  limits.claim(key);
  let fh: FileHandle | undefined;
  try {
    const existing = await tree.lookup(parts);
    if (existing !== undefined) {
      if (!existing.isFile())
        throw new ServiceError('EXISTS', 'a directory or special file has that name');
      if (!overwrite) {
        throw new ServiceError(
          'EXISTS',
          space.allowOverwrite
            ? 'a file with that name exists (send "overwrite":true to replace it)'
            : 'a file with that name exists',
        );
      }
    }
    const partialPath = space.partialPathOf(name);
    const partial = await lstatOrUndefined(partialPath);
    const held = partial?.isFile() ? partial.size : 0;
    if (offset > held) {
      throw new ServiceError(
        'BAD_OFFSET',
        `offset ${offset} is beyond the ${held} bytes this server holds of that upload`,
      );
    }
    await limits.reserve(key, size - offset, held - offset);
    // Directories are created only now that the upload is acceptable.
    await tree.walk(parts, true);
    if (offset > 0) {
      fh = await open(partialPath, O_RDWR | O_NOFOLLOW);
      if (held > offset) {
        await fh.truncate(offset);
        limits.forgetUsage();
      }
    } else {
      if (partial !== undefined) {
        await unlink(partialPath);
        limits.forgetUsage();
      }
      fh = await open(partialPath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    }
    const upload = new Upload(space, { ...params, parts, partialPath, key }, fh);
    if (offset > 0) {
      const hashes = [upload.writer.sha256];
      if (upload.writer.md5) hashes.push(upload.writer.md5);
      await hashPrefix(fh, offset, hashes);
    }
    return upload;
  } catch (err) {
    await fh?.close().catch(() => undefined);
    limits.unclaim(key);
    throw fsError(err, 'put');
  }
}

interface UploadPlace extends PutParams {
  parts: string[];
  partialPath: string;
  /** The folded name its limits are held under. */
  key: string;
}

/**
 * One upload in progress: the partial file open, the writer hashing into it.
 * `commit` verifies, fsyncs and moves it into place; `keep` leaves a
 * resumable partial; `discard` removes it.
 */
export class Upload {
  readonly writer: PartialWriter;
  readonly name: string;
  readonly size: number;
  readonly offset: number;
  private settled = false;

  constructor(
    private readonly space: UploadSpace,
    private readonly place: UploadPlace,
    private readonly fh: FileHandle,
  ) {
    this.name = place.name;
    this.size = place.size;
    this.offset = place.offset;
    // md5 only for the tutorial header that carries one: it costs as much as the sha256.
    this.writer = new PartialWriter(fh, place.offset, { md5: place.md5 });
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
      await this.moveIntoPlace();
      return sha256;
    } catch (err) {
      await this.discard();
      throw fsError(err, 'store');
    } finally {
      this.space.limits.release(this.place.key);
    }
  }

  /** The connection broke: keep what arrived, durable, for a resume. */
  async keep(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await this.writer.keep();
    await this.fh.close().catch(() => undefined);
    this.space.limits.release(this.place.key);
  }

  /** Failed for good (hash, disk full): remove the partial. */
  async discard(): Promise<void> {
    if (!this.settled) {
      this.settled = true;
      await this.writer.stop();
      await this.fh.close().catch(() => undefined);
    }
    await unlink(this.place.partialPath).catch(() => undefined);
    this.space.limits.release(this.place.key);
  }

  /**
   * Links the verified partial into place (no overwrite) or renames it
   * (overwrite), then fsyncs both directories.
   */
  private async moveIntoPlace(): Promise<void> {
    const { parts, partialPath, overwrite } = this.place;
    const { tree } = this.space;
    // Walk again: a parent replaced by a symlink since beginUpload is caught here.
    const dir = (await tree.walk(parts, true)) as string;
    const last = parts[parts.length - 1] as string;
    await tree.checkCollision(dir, last);
    const target = join(dir, last);
    if (overwrite) {
      const old = await lstatOrUndefined(target);
      if (old !== undefined && !old.isFile()) {
        throw new ServiceError('EXISTS', 'a directory or special file has that name');
      }
      await rename(partialPath, target); // replaces a name, never follows it
    } else {
      // link() fails with EEXIST if anything, even a dangling symlink, holds the name.
      await link(partialPath, target);
      await unlink(partialPath);
    }
    await syncDir(dir, { follow: false });
    await syncDir(this.space.partialDir, { follow: false });
    this.space.limits.forgetUsage();
  }
}

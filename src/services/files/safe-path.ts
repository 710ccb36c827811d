import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, opendir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceError } from '../../errors.js';
import { isErrno, lstatOrUndefined } from './disk.js';
import { foldName } from './messages.js';
import { fsError } from './fs-error.js';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = constants;

/**
 * Confinement to the storage root: names are already checked (messages.ts);
 * here every parent directory is walked with lstat, so a planted symlink
 * cannot lead out of the root, and files are opened with O_NOFOLLOW.
 */
export class SafeTree {
  constructor(readonly root: string) {}

  /**
   * Walks the parent directories of `parts` from the root, one lstat per
   * component: each must be a real directory (a symlink, even to a directory
   * inside the root, is refused). With `create`, missing ones are made
   * (0700) after a case/Unicode collision check. Returns the parent's path,
   * or undefined when one is missing and `create` is false.
   */
  async walk(parts: readonly string[], create: boolean): Promise<string | undefined> {
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

  /** lstat of the final component, or undefined when it (or a parent) does not exist. */
  async lookup(parts: readonly string[]): Promise<Stats | undefined> {
    const dir = await this.walk(parts, false);
    if (dir === undefined) return undefined;
    return lstatOrUndefined(join(dir, parts[parts.length - 1] as string));
  }

  /** EXISTS if `dir` holds a different name that folds to the same key as `part`. */
  async checkCollision(dir: string, part: string): Promise<void> {
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

  /** A regular file to send: opened with O_NOFOLLOW, never a FIFO or a device. */
  async openRegular(parts: readonly string[]): Promise<{ fh: FileHandle; size: number }> {
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
}

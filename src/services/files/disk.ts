import { constants, type Stats } from 'node:fs';
import { lstat, open } from 'node:fs/promises';

const { O_RDONLY, O_NOFOLLOW, O_DIRECTORY } = constants;

export function isErrno(err: unknown, ...codes: string[]): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && codes.includes(code);
}

export async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/**
 * fsyncs a directory, so a rename or link in it survives a crash. The store
 * never follows a symlink (`follow: false`); a client's own DEST directory may
 * be one.
 */
export async function syncDir(path: string, options: { follow: boolean }): Promise<void> {
  const fh = await open(path, O_RDONLY | O_DIRECTORY | (options.follow ? 0 : O_NOFOLLOW));
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

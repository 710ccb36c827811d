import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UsageError } from '../../errors.js';
import type { PutTreeEvent, TreeFile } from './client-options.js';

type Skip = Extract<PutTreeEvent, { type: 'skip' }>;

/**
 * The local files an upload of `paths` sends: a FILE as its base name (or
 * `as`), a DIR recursively as DIR/… in sorted order, names in NFC. Symlinks
 * and special files inside a DIR are skipped (reported to `onSkip`); a path
 * given that is missing or neither is a BAD_OPTION, before anything is sent.
 */
export async function collectTree(
  paths: readonly string[],
  as: string | undefined,
  onSkip: (skip: Skip) => void,
): Promise<TreeFile[]> {
  if (as !== undefined && paths.length !== 1) {
    throw new UsageError('BAD_OPTION', '--as needs exactly one FILE or DIR');
  }
  const files: TreeFile[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      const name = `${prefix}/${entry.name.normalize('NFC')}`;
      if (entry.isDirectory()) await walk(path, name);
      else if (entry.isFile()) files.push({ path, name });
      else {
        onSkip({
          type: 'skip',
          path,
          reason: entry.isSymbolicLink() ? 'symlink' : 'not a regular file',
        });
      }
    }
  };
  for (const arg of paths) {
    let info;
    try {
      info = await stat(arg);
    } catch {
      throw new UsageError('BAD_OPTION', `${arg}: no such file or directory`);
    }
    const top = (as ?? basename(arg)).normalize('NFC');
    if (info.isDirectory()) await walk(arg, top);
    else if (info.isFile()) files.push({ path: arg, name: top });
    else throw new UsageError('BAD_OPTION', `${arg} is not a regular file or a directory`);
  }
  return files;
}

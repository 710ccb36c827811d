import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceError } from '../../errors.js';
import type { EnvelopeHeader } from '../../protocol/envelope.js';
import {
  PARTIAL_DIR,
  checkName,
  isValidName,
  listRequestSchema,
  type ListEntry,
} from './messages.js';
import { fsError } from './fs-error.js';
import { parseRequest, type RequestContext } from './request-context.js';
import { lstatOrUndefined } from './disk.js';
import type { SafeTree } from './safe-path.js';

/** `list`: one `entry` per file, then `{"type":"end","count"}`, as fast as the peer reads. */
export function serveList(ctx: RequestContext, header: EnvelopeHeader, started: number): void {
  const parsed = parseRequest(ctx, listRequestSchema, header, started);
  if (parsed === undefined) return;
  const { prefix } = parsed;
  const { channel, conn } = ctx;
  ctx.run(async () => {
    let count = 0;
    try {
      for await (const entry of ctx.store.list(prefix)) {
        if (conn.isClosed) return;
        count++;
        if (
          !channel.send({
            type: 'entry',
            name: entry.name,
            fileSize: entry.size,
            mtimeMs: entry.mtimeMs,
          })
        )
          await channel.drained();
      }
    } catch (err) {
      ctx.refuse(
        'list',
        fsError(err, 'list'),
        started,
        prefix !== undefined ? { name: prefix } : {},
      );
      return;
    }
    channel.send({ type: 'end', count });
    ctx.audit('list', { count, ...(prefix !== undefined ? { name: prefix } : {}) }, started);
  });
}

/**
 * Regular files under the root (or `prefix`), depth first, each directory
 * sorted. Symlinks, special files, partials and names that break the rules
 * are left out: they could not be fetched anyway.
 */
export async function* listTree(tree: SafeTree, prefix?: string): AsyncGenerator<ListEntry> {
  const parts = prefix === undefined ? [] : checkName(prefix);
  let start = tree.root;
  if (parts.length > 0) {
    // Walking "prefix/x" checks every component of the prefix as a plain directory.
    const dir = await tree.walk([...parts, 'x'], false).catch((err: unknown) => {
      throw fsError(err, 'list');
    });
    if (dir === undefined) throw new ServiceError('NOT_FOUND', 'no such directory');
    start = dir;
  }
  yield* listDir(start, parts.join('/'));
}

async function* listDir(dir: string, rel: string): AsyncGenerator<ListEntry> {
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
      yield* listDir(join(dir, entry.name), name);
    } else if (entry.isFile()) {
      const info = await lstatOrUndefined(join(dir, entry.name));
      if (info?.isFile()) yield { name, size: info.size, mtimeMs: Math.round(info.mtimeMs) };
    }
  }
}

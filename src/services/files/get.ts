import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { ServiceError } from '../../errors.js';
import type { EnvelopeHeader } from '../../protocol/envelope.js';
import { getRequestSchema, statRequestSchema } from './messages.js';
import { BufferPool, hashPrefix, readRange } from './file-read.js';
import { fsError } from './fs-error.js';
import { parseRequest, type RequestContext } from './request-context.js';

/** `stat`: a file's size and mtime, and how much of a partial upload the server holds. */
export function serveStat(ctx: RequestContext, header: EnvelopeHeader, started: number): void {
  const parsed = parseRequest(ctx, statRequestSchema, header, started);
  if (parsed === undefined) return;
  const { name } = parsed;
  ctx.run(async () => {
    try {
      const info = await ctx.store.stat(name);
      ctx.channel.send({ type: 'stat', name, ...info });
      ctx.audit('stat', { name }, started);
    } catch (err) {
      ctx.refuse('stat', fsError(err, 'stat'), started, { name });
    }
  });
}

/** `get`: one file, from `offset` for a resumed download. */
export function serveGet(ctx: RequestContext, header: EnvelopeHeader, started: number): void {
  const parsed = parseRequest(ctx, getRequestSchema, header, started);
  if (parsed === undefined) return;
  const { name } = parsed;
  const offset = parsed.offset ?? 0;
  ctx.run(async () => {
    let file: { fh: FileHandle; size: number };
    try {
      file = await ctx.store.openForRead(name);
      if (offset > file.size) {
        await file.fh.close();
        throw new ServiceError(
          'BAD_OFFSET',
          `offset ${offset} is beyond the file's ${file.size} bytes`,
        );
      }
    } catch (err) {
      ctx.refuse('get', fsError(err, 'get'), started, { name, offset });
      return;
    }
    try {
      const sha256 = await sendFile(ctx, name, file.fh, file.size, offset);
      if (sha256 !== undefined)
        ctx.audit('get', { name, size: file.size, offset, sha256 }, started);
    } finally {
      await file.fh.close().catch(() => undefined);
    }
  });
}

/**
 * Header, body from `offset`, then `{"type":"done","sha256"}` over the whole
 * file: bytes before `offset` are read and hashed first, so the client of
 * a resumed download can check the whole file end to end.
 */
async function sendFile(
  ctx: RequestContext,
  name: string,
  fh: FileHandle,
  total: number,
  offset: number,
): Promise<string | undefined> {
  const { channel, conn } = ctx;
  const hash = createHash('sha256');
  channel.send({ type: 'file', name, size: total - offset, total, offset });
  await hashPrefix(fh, offset, [hash]);
  try {
    const pool = new BufferPool();
    for await (const piece of readRange(fh, offset, total, pool)) {
      if (conn.isClosed) return undefined;
      // Queue the bytes first, then hash them while the kernel sends them.
      const ok = channel.sendBody(piece);
      hash.update(piece);
      pool.sent(piece);
      if (!ok) await channel.drained();
      if (conn.pendingWrite === 0) pool.reclaim();
    }
  } catch (err) {
    // Mid-body an error envelope would be read as body bytes: cut the connection instead.
    conn.destroy(fsError(err, 'get'));
    return undefined;
  }
  if (conn.isClosed) return undefined;
  const sha256 = hash.digest('hex');
  channel.send({ type: 'done', sha256 });
  return sha256;
}

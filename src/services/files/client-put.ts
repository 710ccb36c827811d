import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import * as v from 'valibot';
import { ServiceError, SockitError } from '../../errors.js';
import type { PutResult, Progress } from './client-options.js';
import { BufferPool, hashPrefix, readRange } from './file-read.js';
import { fsError } from './fs-error.js';
import { COMMIT_TIMEOUT_MS } from './limits.js';
import { continueReplySchema, okReplySchema } from './messages.js';
import { badReply, type ReplyChannel } from './reply-channel.js';

/**
 * Uploads `path` as `name` from `offset`. The sha256 is computed while the
 * bytes go out (the first `offset` bytes are read and hashed, not sent) and
 * sent in a `commit` after the body; the server's reply must carry the same.
 */
export async function sendFile(
  replies: ReplyChannel,
  path: string,
  name: string,
  options: { offset: number; overwrite?: boolean; onProgress?: Progress | undefined },
): Promise<PutResult> {
  const { offset } = options;
  const fh = await open(path, 'r');
  try {
    const info = await fh.stat();
    if (!info.isFile()) throw new ServiceError('BAD_REQUEST', `${path} is not a regular file`);
    const size = info.size;
    if (offset > size) {
      throw new ServiceError(
        'BAD_OFFSET',
        `the server holds ${offset} bytes, more than the file's ${size}`,
      );
    }
    const hash = createHash('sha256');
    await hashPrefix(fh, offset, [hash]);
    replies.send({
      type: 'put',
      name,
      size: size - offset, // the body; the file is offset + size bytes
      ...(offset > 0 ? { offset } : {}),
      ...(options.overwrite ? { overwrite: true } : {}),
    });
    const cont = v.safeParse(continueReplySchema, await replies.next());
    if (!cont.success || cont.output.offset !== offset)
      throw replies.broken(badReply('a bad "continue"'));
    replies.resume();
    let done = offset;
    options.onProgress?.(done, size);
    const pool = new BufferPool();
    const conn = replies.connection;
    for await (const piece of readRange(fh, offset, size, pool)) {
      replies.check();
      // Queue the bytes first, then hash them while the kernel sends them.
      const ok = replies.sendBody(piece);
      hash.update(piece);
      pool.sent(piece);
      done += piece.length;
      options.onProgress?.(done, size);
      if (!ok) {
        await replies.drained();
        replies.check();
      }
      if (conn.pendingWrite === 0) pool.reclaim();
    }
    const sha256 = hash.digest('hex');
    replies.send({ type: 'commit', sha256 });
    const reply = v.safeParse(
      okReplySchema,
      await replies.next(Math.max(replies.timeoutMs, COMMIT_TIMEOUT_MS)),
    );
    replies.resume();
    if (!reply.success || reply.output.name !== name || reply.output.fileSize !== size) {
      throw replies.broken(badReply('a bad "ok"'));
    }
    if (reply.output.sha256 !== sha256) {
      throw new ServiceError(
        'HASH_MISMATCH',
        `the server stored a file whose sha256 differs from the one sent`,
      );
    }
    return { name, size, sha256, sent: size - offset, offset };
  } catch (err) {
    if (err instanceof SockitError && err.code === 'IO_ERROR') replies.destroy();
    throw fsError(err, 'put');
  } finally {
    await fh.close();
  }
}

import { constants } from 'node:fs';
import { link, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as v from 'valibot';
import { ServiceError, SockitError } from '../../errors.js';
import type { GetOptions, GetResult } from './client-options.js';
import { lstatOrUndefined, syncDir } from './disk.js';
import { hashPrefix } from './file-read.js';
import { fsError } from './fs-error.js';
import {
  DOWNLOAD_PARTIAL_SUFFIX,
  doneReplySchema,
  escapeName,
  fileReplySchema,
} from './messages.js';
import { PartialWriter } from './partial-writer.js';
import { badReply, type ReplyChannel } from './reply-channel.js';

const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

/** Failures after which a download's partial file is kept for `resume`. */
const RESUMABLE = new Set<string>([
  'INCOMPLETE',
  'CONNECTION_CLOSED',
  'CONNECTION_RESET',
  'TIMEOUT',
  'IDLE_TIMEOUT',
  'NETWORK_ERROR',
  'SHUTTING_DOWN',
]);

/**
 * Downloads `name` to `dest`: into `dest.sockit-part` (created with
 * O_EXCL|O_NOFOLLOW, or continued with `resume`), hashed while it comes,
 * checked against the server's `done`, fsynced, then linked into place
 * (renamed over DEST only with `overwrite`).
 */
export async function receiveFile(
  replies: ReplyChannel,
  name: string,
  dest: string,
  options: GetOptions,
): Promise<GetResult> {
  const existing = await lstatOrUndefined(dest);
  if (existing && (!options.overwrite || !existing.isFile())) {
    throw new ServiceError(
      'EXISTS',
      `${dest} exists${existing.isFile() ? ' (use --overwrite)' : ''}`,
    );
  }
  const partialPath = `${dest}${DOWNLOAD_PARTIAL_SUFFIX}`;
  const partial = await lstatOrUndefined(partialPath);
  let fh: FileHandle;
  let offset = 0;
  if (options.resume && partial?.isFile()) {
    fh = await open(partialPath, O_RDWR | O_NOFOLLOW);
    offset = partial.size;
  } else {
    if (partial) await unlink(partialPath);
    fh = await open(partialPath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  }
  let keepPartial = true;
  const writer = new PartialWriter(fh, offset);
  try {
    await hashPrefix(fh, offset, [writer.sha256]);
    replies.send({ type: 'get', name, ...(offset > 0 ? { offset } : {}) });
    const head = v.safeParse(fileReplySchema, await replies.next());
    if (!head.success) throw replies.broken(badReply('a bad "file" header'));
    const { total, size } = head.output;
    const problem =
      head.output.name !== name
        ? `the name ${JSON.stringify(escapeName(head.output.name.slice(0, 256)))}, not the one asked for`
        : head.output.offset !== offset
          ? `offset ${head.output.offset}, not ${offset}`
          : size !== total - offset
            ? `a body of ${size} bytes for ${total - offset} remaining`
            : options.maxSize !== undefined && total > options.maxSize
              ? `a file of ${total} bytes, more than the limit of ${options.maxSize}`
              : undefined;
    if (problem !== undefined) {
      keepPartial = offset > 0;
      throw replies.broken(badReply(problem));
    }
    options.onProgress?.(offset, total);
    if (size > 0) await replies.receiveBody(writer, total, options.onProgress);
    const done = v.safeParse(doneReplySchema, await replies.next());
    replies.resume();
    if (!done.success) throw replies.broken(badReply('a bad "done"'));
    const sha256 = writer.sha256.digest('hex');
    if (done.output.sha256 !== sha256) {
      keepPartial = false;
      throw new ServiceError(
        'HASH_MISMATCH',
        'the bytes received do not match the sha256 the server announced',
      );
    }
    await writer.flush();
    await fh.close();
    if (options.overwrite) await rename(partialPath, dest);
    else {
      await link(partialPath, dest);
      await unlink(partialPath);
    }
    keepPartial = false;
    await syncDir(dirname(dest), { follow: true }).catch(() => undefined);
    return { name, path: dest, size: total, sha256, received: size, offset };
  } catch (err) {
    // Only a broken connection leaves a partial worth resuming; a server that lied does not.
    const code = err instanceof SockitError ? err.code : undefined;
    keepPartial &&= code !== undefined && RESUMABLE.has(code);
    if (keepPartial) {
      // What arrived before the break is kept, so a resume does not fetch it again.
      await writer.flush().catch(() => undefined);
      await fh.sync().catch(() => undefined);
    }
    await fh.close().catch(() => undefined);
    if (!keepPartial) await unlink(partialPath).catch(() => undefined);
    throw fsError(err, 'get');
  }
}

import { stat } from 'node:fs/promises';
import * as v from 'valibot';
import { SockitError, UsageError } from '../../errors.js';
import type { Address } from '../../transport/address.js';
import { receiveFile } from './client-get.js';
import type {
  FilesClientOptions,
  GetOptions,
  GetResult,
  PutOptions,
  PutResult,
  PutTreeOptions,
  PutTreeResult,
} from './client-options.js';
import { sendFile } from './client-put.js';
import { collectTree } from './local-tree.js';
import {
  checkName,
  endReplySchema,
  entryReplySchema,
  escapeName,
  statReplySchema,
  type ListEntry,
  type StatReply,
} from './messages.js';
import { ReplyChannel, badReply } from './reply-channel.js';

/**
 * A files-service client (SPEC §2.4): one request at a time on one
 * authenticated connection. Everything the server sends back is checked as
 * an upload would be: the name, the sizes, the hash; a download never
 * writes outside the path it was given, and never more bytes than announced.
 *
 * @example
 * ```ts
 * import { FilesClient, ensureToken, parseAddress } from 'sockit';
 *
 * const { token } = await ensureToken();
 * const files = await FilesClient.connect(parseAddress('127.0.0.1', { port: 7021 }), { token });
 * const put = await files.put('./report.pdf', 'report.pdf');
 * console.log(put.sha256, put.size);
 * // A directory, resuming what a broken run left; then one file back.
 * const { stored, failed } = await files.putTree('photos', { resume: true });
 * console.log(stored.length, failed.length);
 * await files.get('photos/cat.jpg', './cat.jpg', { resume: true });
 * for (const entry of await files.list()) console.log(entry.name, entry.size);
 * await files.close();
 * ```
 */
export class FilesClient {
  private replies: ReplyChannel;

  private constructor(
    replies: ReplyChannel,
    private readonly address: Address,
    private readonly options: FilesClientOptions,
  ) {
    this.replies = replies;
  }

  /** Connects and authenticates. */
  static async connect(address: Address, options: FilesClientOptions = {}): Promise<FilesClient> {
    return new FilesClient(await ReplyChannel.open(address, options), address, options);
  }

  /** A file's size, mtime and partial upload size; undefined when the server has neither. */
  async stat(name: string): Promise<StatReply | undefined> {
    checkName(name);
    const replies = this.replies;
    replies.send({ type: 'stat', name });
    let header;
    try {
      header = await replies.next();
    } catch (err) {
      if (err instanceof SockitError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
    const reply = v.safeParse(statReplySchema, header);
    if (!reply.success || reply.output.name !== name)
      throw replies.broken(badReply('a bad stat reply'));
    return reply.output;
  }

  /** Every file under `prefix` (or the root); `onEntry` sees each as it comes. */
  async list(prefix?: string, onEntry?: (entry: ListEntry) => void): Promise<ListEntry[]> {
    if (prefix !== undefined) checkName(prefix);
    const replies = this.replies;
    replies.send({ type: 'list', ...(prefix !== undefined ? { prefix } : {}) });
    const entries: ListEntry[] = [];
    for (;;) {
      const header = await replies.next();
      if (header.type === 'end') {
        if (!v.safeParse(endReplySchema, header).success)
          throw replies.broken(badReply('a bad end'));
        return entries;
      }
      const entry = v.safeParse(entryReplySchema, header);
      if (!entry.success)
        throw replies.broken(badReply(`"${escapeName(header.type.slice(0, 32))}" in a listing`));
      try {
        checkName(entry.output.name);
      } catch (err) {
        throw replies.broken(badReply(`a listing with a bad name: ${(err as Error).message}`));
      }
      const item = {
        name: entry.output.name,
        size: entry.output.fileSize,
        mtimeMs: entry.output.mtimeMs,
      };
      entries.push(item);
      onEntry?.(item);
    }
  }

  /**
   * Uploads the file at `path` as `name`, hashed (sha256) while it is sent
   * and verified by the server before it becomes visible. With `resume`, a
   * `stat` first asks how much of a broken upload the server kept, and only
   * the rest is sent; the server hashes what it kept, so the whole file is
   * verified. A refused put closes the connection (the server cannot skip a
   * body it did not accept).
   */
  async put(path: string, name: string, options: PutOptions = {}): Promise<PutResult> {
    checkName(name);
    if (options.resume && options.offset !== undefined) {
      throw new UsageError('BAD_OPTION', 'put takes resume or offset, not both');
    }
    const offset = options.resume ? await this.resumeOffset(path, name) : (options.offset ?? 0);
    return sendFile(this.replies, path, name, {
      offset,
      ...(options.overwrite !== undefined ? { overwrite: options.overwrite } : {}),
      onProgress: options.onProgress,
    });
  }

  /**
   * Uploads files and directories: each FILE as its base name (or `as`),
   * each DIR recursively as DIR/…, in sorted order; symlinks and special
   * files inside a DIR are skipped. Every path is walked before anything is
   * sent (a missing one is a BAD_OPTION). A file that fails does not stop the
   * others: it is reported (`error` event, `failed`) and the next file gets a
   * new connection, since a refused put closes it. If the last file failed,
   * the connection is left closed.
   */
  async putTree(
    paths: string | readonly string[],
    options: PutTreeOptions = {},
  ): Promise<PutTreeResult> {
    const emit = options.onEvent;
    let skipped = 0;
    const files = await collectTree(
      typeof paths === 'string' ? [paths] : paths,
      options.as,
      (s) => {
        skipped++;
        emit?.(s);
      },
    );
    const result: PutTreeResult = { stored: [], failed: [], skipped };
    let broken = false;
    for (const file of files) {
      emit?.({ type: 'start', file });
      try {
        if (broken) {
          checkName(file.name); // a bad local name needs no new connection
          this.replies = await ReplyChannel.open(this.address, this.options);
          broken = false;
        }
        const stored = await this.put(file.path, file.name, {
          ...(options.resume ? { resume: true } : {}),
          ...(options.overwrite !== undefined ? { overwrite: options.overwrite } : {}),
          onProgress: (done, total) => options.onProgress?.(file.name, done, total),
        });
        result.stored.push(stored);
        emit?.({ type: 'put', file, result: stored });
      } catch (error) {
        if (error instanceof UsageError) throw error;
        result.failed.push({ file, error });
        emit?.({ type: 'error', file, error });
        this.replies.destroy();
        broken = true;
      }
    }
    result.skipped = skipped;
    return result;
  }

  /**
   * Downloads `name` to `dest`: into `dest.sockit-part` (created with
   * O_EXCL|O_NOFOLLOW, or continued with `resume`), hashed while it comes,
   * checked against the server's `done`, fsynced, then linked into place
   * (renamed over DEST only with `overwrite`). A download broken by the
   * network keeps its partial for `resume`; one the server lied about does not.
   */
  async get(name: string, dest: string, options: GetOptions = {}): Promise<GetResult> {
    checkName(name);
    return receiveFile(this.replies, name, dest, options);
  }

  /** Finishes our side and waits for the server to close. */
  async close(): Promise<void> {
    await this.replies.close();
  }

  destroy(): void {
    this.replies.destroy();
  }

  /** Bytes of `name` the server kept from a broken upload, if they fit the local file. */
  private async resumeOffset(path: string, name: string): Promise<number> {
    const remote = await this.stat(name);
    if (remote?.partial === undefined) return 0;
    const local = await stat(path);
    return remote.partial <= local.size ? remote.partial : 0;
  }
}

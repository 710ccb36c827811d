import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { link, lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as v from 'valibot';
import {
  NetworkError,
  ProtocolError,
  ServiceError,
  SockitError,
  fromErrorEnvelope,
} from '../../errors.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../../limits.js';
import type { ByteOrder } from '../../protocol/byte-order.js';
import type { EnvelopeHeader } from '../../protocol/envelope.js';
import type { Address } from '../../transport/address.js';
import type { CloseInfo } from '../../transport/connection.js';
import { EnvelopeChannel } from '../../transport/envelope-channel.js';
import { connect, type ConnectOptions } from '../../transport/tcp-client.js';
import { clientHandshake } from '../common/handshake.js';
import {
  DOWNLOAD_PARTIAL_SUFFIX,
  checkName,
  continueReplySchema,
  doneReplySchema,
  endReplySchema,
  entryReplySchema,
  escapeName,
  fileReplySchema,
  okReplySchema,
  statReplySchema,
  type ListEntry,
  type StatReply,
} from './messages.js';
import { BufferPool, hashPrefix, readRange } from './file-read.js';
import { fsError } from './fs-error.js';
import { PartialWriter } from './partial-writer.js';

const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY } = constants;

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

/** How long the server may take to fsync, verify and rename a finished upload (ms). */
const COMMIT_TIMEOUT_MS = 10 * 60_000;

/** Options of {@link FilesClient}: token, TLS, timeouts. */
export interface FilesClientOptions extends ConnectOptions {
  /** The shared token (SPEC §2.3); not needed when the server says auth "none". */
  token?: string;
  /** @default 'u32be' */
  byteOrder?: ByteOrder;
  /** How long each reply may take (ms); a body may take as long as it needs. @default 10 000 */
  timeoutMs?: number;
}

/** Called as bytes move: `done` of `total` (the whole file, resumed bytes included). */
export type Progress = (done: number, total: number) => void;

/** Options of {@link FilesClient.put}: the stored name, resume, overwrite, progress. */
export interface PutOptions {
  /** Resume: bytes the server already holds (its `stat().partial`). @default 0 */
  offset?: number;
  overwrite?: boolean;
  onProgress?: Progress;
}

/** What an upload stored: the name, its size and sha256 (verified by the server), and the bytes sent from which offset. */
export interface PutResult {
  name: string;
  size: number;
  sha256: string;
  /** Bytes sent in this call (size − offset). */
  sent: number;
  offset: number;
}

/** Options of {@link FilesClient.get}: where to write, resume, overwrite, size cap. */
export interface GetOptions {
  /** Continue `DEST.sockit-part` if it exists. @default false */
  resume?: boolean;
  /** Replace DEST if it exists. @default false */
  overwrite?: boolean;
  /** Refuse a file the server says is larger (bytes). @default unlimited */
  maxSize?: number;
  onProgress?: Progress;
}

/** What a download delivered: the name, where it was written, its size and sha256, and the bytes received from which offset. */
export interface GetResult {
  name: string;
  path: string;
  size: number;
  sha256: string;
  /** Bytes received in this call. */
  received: number;
  offset: number;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function syncDir(path: string): Promise<void> {
  const fh = await open(path, O_RDONLY | O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function badReply(what: string): ProtocolError {
  return new ProtocolError('BAD_REPLY', `server sent ${what}`);
}

interface Waiter {
  resolve: (header: EnvelopeHeader) => void;
  reject: (error: SockitError) => void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * A files-service client (SPEC §2.4): one request at a time on one
 * authenticated connection. Everything the server sends back is checked as
 * an upload would be: the name, the sizes, the hash; a download never
 * writes outside the path it was given, and never more bytes than announced.
 * @example
 * ```ts
 * import { FilesClient, ensureToken, parseAddress } from 'sockit';
 *
 * const { token } = await ensureToken();
 * const files = await FilesClient.connect(parseAddress('127.0.0.1', { port: 7021 }), { token });
 * const put = await files.put('./report.pdf', 'report.pdf');
 * console.log(put.sha256, put.size);
 * await files.get('report.pdf', './report-copy.pdf');
 * for (const entry of await files.list()) console.log(entry.name, entry.size);
 * await files.close();
 * ```
 */
export class FilesClient {
  private readonly channel: EnvelopeChannel;
  private readonly timeoutMs: number;
  private waiter: Waiter | undefined;
  private failure: SockitError | undefined;
  private body: { chunk(c: Buffer): void; end(): void } | undefined;

  private constructor(channel: EnvelopeChannel, timeoutMs: number) {
    this.channel = channel;
    this.timeoutMs = timeoutMs;
    channel.setHandlers({
      header: (header) => {
        this.onHeader(header);
      },
      body: (chunk) => this.body?.chunk(chunk),
      bodyEnd: () => this.body?.end(),
      end: () => {
        this.fail(new NetworkError('CONNECTION_CLOSED', 'server closed the connection'));
        channel.end();
      },
      close: (info: CloseInfo) => {
        this.fail(
          info.error ?? new NetworkError('CONNECTION_CLOSED', 'server closed the connection'),
        );
      },
    });
  }

  /** Connects and authenticates. */
  static async connect(address: Address, options: FilesClientOptions = {}): Promise<FilesClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const conn = await connect(address, { connectTimeoutMs: timeoutMs, ...options });
    const channel = new EnvelopeChannel(conn, { byteOrder: options.byteOrder ?? 'u32be' });
    await clientHandshake(channel, { service: 'files', token: options.token, timeoutMs });
    const client = new FilesClient(channel, timeoutMs);
    channel.resume();
    return client;
  }

  /** A file's size, mtime and partial upload size; undefined when the server has neither. */
  async stat(name: string): Promise<StatReply | undefined> {
    checkName(name);
    this.channel.send({ type: 'stat', name });
    let header: EnvelopeHeader;
    try {
      header = await this.next();
    } catch (err) {
      if (err instanceof SockitError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
    const reply = v.safeParse(statReplySchema, header);
    if (!reply.success || reply.output.name !== name)
      throw this.broken(badReply('a bad stat reply'));
    return reply.output;
  }

  /** Every file under `prefix` (or the root); `onEntry` sees each as it comes. */
  async list(prefix?: string, onEntry?: (entry: ListEntry) => void): Promise<ListEntry[]> {
    if (prefix !== undefined) checkName(prefix);
    this.channel.send({ type: 'list', ...(prefix !== undefined ? { prefix } : {}) });
    const entries: ListEntry[] = [];
    for (;;) {
      const header = await this.next();
      if (header.type === 'end') {
        if (!v.safeParse(endReplySchema, header).success) throw this.broken(badReply('a bad end'));
        return entries;
      }
      const entry = v.safeParse(entryReplySchema, header);
      if (!entry.success)
        throw this.broken(badReply(`"${escapeName(header.type.slice(0, 32))}" in a listing`));
      try {
        checkName(entry.output.name);
      } catch (err) {
        throw this.broken(badReply(`a listing with a bad name: ${(err as Error).message}`));
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
   * Uploads `path` as `name`. The sha256 is computed while the bytes go out
   * (with `offset`, the first bytes are read and hashed, not sent) and sent
   * in a `commit` after the body; the server's reply must carry the same.
   */
  async put(path: string, name: string, options: PutOptions = {}): Promise<PutResult> {
    checkName(name);
    const offset = options.offset ?? 0;
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
      this.channel.send({
        type: 'put',
        name,
        size: size - offset, // the body; the file is offset + size bytes
        ...(offset > 0 ? { offset } : {}),
        ...(options.overwrite ? { overwrite: true } : {}),
      });
      const cont = v.safeParse(continueReplySchema, await this.next());
      if (!cont.success || cont.output.offset !== offset)
        throw this.broken(badReply('a bad "continue"'));
      this.channel.resume();
      let done = offset;
      options.onProgress?.(done, size);
      const pool = new BufferPool();
      const conn = this.channel.connection;
      for await (const piece of readRange(fh, offset, size, pool)) {
        this.check();
        // Queue the bytes first, then hash them while the kernel sends them.
        const ok = this.channel.sendBody(piece);
        hash.update(piece);
        pool.sent(piece);
        done += piece.length;
        options.onProgress?.(done, size);
        if (!ok) {
          await this.channel.drained();
          this.check();
        }
        if (conn.pendingWrite === 0) pool.reclaim();
      }
      const sha256 = hash.digest('hex');
      this.channel.send({ type: 'commit', sha256 });
      const reply = v.safeParse(
        okReplySchema,
        await this.next(Math.max(this.timeoutMs, COMMIT_TIMEOUT_MS)),
      );
      this.channel.resume();
      if (!reply.success || reply.output.name !== name || reply.output.fileSize !== size) {
        throw this.broken(badReply('a bad "ok"'));
      }
      if (reply.output.sha256 !== sha256) {
        throw new ServiceError(
          'HASH_MISMATCH',
          `the server stored a file whose sha256 differs from the one sent`,
        );
      }
      return { name, size, sha256, sent: size - offset, offset };
    } catch (err) {
      if (err instanceof SockitError && err.code === 'IO_ERROR') this.channel.connection.destroy();
      throw fsError(err, 'put');
    } finally {
      await fh.close();
    }
  }

  /**
   * Downloads `name` to `dest`: into `dest.sockit-part` (created with
   * O_EXCL|O_NOFOLLOW, or continued with `resume`), hashed while it comes,
   * checked against the server's `done`, fsynced, then linked into place
   * (renamed over DEST only with `overwrite`).
   */
  async get(name: string, dest: string, options: GetOptions = {}): Promise<GetResult> {
    checkName(name);
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
      this.channel.send({ type: 'get', name, ...(offset > 0 ? { offset } : {}) });
      const head = v.safeParse(fileReplySchema, await this.next());
      if (!head.success) throw this.broken(badReply('a bad "file" header'));
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
        throw this.broken(badReply(problem));
      }
      options.onProgress?.(offset, total);
      if (size > 0) await this.receiveBody(writer, total, options.onProgress);
      const done = v.safeParse(doneReplySchema, await this.next());
      this.channel.resume();
      if (!done.success) throw this.broken(badReply('a bad "done"'));
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
      await syncDir(dirname(dest)).catch(() => undefined);
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

  /** Finishes our side and waits for the server to close. */
  async close(): Promise<void> {
    this.channel.end();
    await this.channel.connection.whenClosed;
  }

  destroy(): void {
    this.channel.connection.destroy();
  }

  private async receiveBody(
    writer: PartialWriter,
    total: number,
    onProgress?: Progress,
  ): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.waiter = { resolve: () => undefined, reject, timer: undefined };
      this.body = {
        chunk: (chunk) => {
          let wait: Promise<void> | undefined;
          try {
            wait = writer.push(chunk);
          } catch (err) {
            this.body = undefined;
            this.channel.connection.destroy();
            reject(fsError(err, 'write'));
            return;
          }
          onProgress?.(writer.received, total);
          if (wait) {
            this.channel.pause();
            wait.then(
              () => {
                this.channel.resume();
              },
              (err: unknown) => {
                this.body = undefined;
                this.channel.connection.destroy();
                reject(fsError(err, 'write'));
              },
            );
          }
        },
        end: () => {
          this.body = undefined;
          this.waiter = undefined;
          this.channel.pause(); // the "done" that follows waits for next()
          resolve();
        },
      };
      this.channel.resume();
    });
  }

  /** The next header from the server, with the channel paused (resume when ready for more). */
  private next(timeoutMs = this.timeoutMs): Promise<EnvelopeHeader> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.fail(new NetworkError('TIMEOUT', `no reply within ${timeoutMs} ms`));
              this.channel.connection.destroy();
            }, timeoutMs)
          : undefined;
      this.waiter = { resolve, reject, timer };
      this.channel.resume();
    });
  }

  private onHeader(header: EnvelopeHeader): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter?.timer) clearTimeout(waiter.timer);
    this.channel.pause();
    if (header.type === 'error') {
      const raw = fromErrorEnvelope(header);
      // The server's text reaches a terminal: escaped, like every name.
      const error = new ServiceError(raw.code, escapeName(raw.message.slice(0, 1024)));
      this.body = undefined;
      // An answer to a request (NOT_FOUND…) leaves the connection usable; unasked, it ends it.
      if (waiter) waiter.reject(error);
      else this.failure ??= error;
      return;
    }
    if (!waiter || this.body) {
      this.fail(badReply(`an unexpected "${escapeName(header.type.slice(0, 32))}"`));
      this.channel.connection.destroy();
      return;
    }
    waiter.resolve(header);
  }

  private fail(error: SockitError): void {
    this.failure ??= error;
    const waiter = this.waiter;
    this.waiter = undefined;
    this.body = undefined;
    if (waiter) {
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.reject(this.failure);
    }
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.channel.connection.isClosed) {
      throw new NetworkError('CONNECTION_CLOSED', 'server closed the connection');
    }
  }

  /** A reply we cannot trust ends the connection. */
  private broken(error: SockitError): SockitError {
    this.failure ??= error;
    this.channel.connection.destroy();
    return error;
  }
}

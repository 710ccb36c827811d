import type { FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { ServiceError, SockitError, UsageError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { encodeEnvelopeHeader, errorHeader, type EnvelopeHeader } from '../../protocol/envelope.js';
import type { ByteOrder } from '../../protocol/byte-order.js';
import { describeIssue } from '../../protocol/schema-issue.js';
import { formatAddress, isLoopbackHost, type Address } from '../../transport/address.js';
import type { Connection } from '../../transport/connection.js';
import { EnvelopeChannel, type ChannelHandlers } from '../../transport/envelope-channel.js';
import { TcpServer, type TcpServerOptions } from '../../transport/tcp-server.js';
import { AuthFailures, startAuthenticated } from '../common/handshake.js';
import {
  TUTORIAL_PUT,
  commitSchema,
  escapeName,
  getRequestSchema,
  listRequestSchema,
  putRequestSchema,
  statRequestSchema,
  tutorialNormalizer,
  tutorialPutSchema,
} from './messages.js';
import { BufferPool, fsError, hashPrefix, readRange } from './partial-writer.js';
import { FileStore, type Upload } from './store.js';
import type { Service } from '../common/service.js';

export interface FilesServerOptions {
  /** The storage root (SPEC §2.4); created with mode 0700 on first use. */
  root: string;
  /**
   * The shared secret clients must prove (SPEC §2.3). Undefined serves
   * without authentication, which `listen` refuses on anything but loopback.
   */
  token: string | undefined;
  /** Let `"overwrite":true` replace existing files. @default false */
  allowOverwrite?: boolean;
  /** Largest file accepted, in bytes. @default unlimited (2^53 − 1) */
  maxFileSize?: number;
  /** Bytes all stored and partial files may use together. @default unlimited */
  maxTotal?: number;
  /** Frame length byte order; u32le takes the tutorial's struct.pack("i", n). @default 'u32be' */
  byteOrder?: ByteOrder;
  /** How long a client has to authenticate (ms). @default 10 000 */
  authTimeoutMs?: number;
  /** TCP limits. The message deadline is off by default: a body may take hours. */
  tcp?: Omit<TcpServerOptions, 'logger' | 'name' | 'busyNotice'>;
  logger?: Logger;
}

/** Loopback (or a Unix socket) only: the one place where serving without a token is allowed. */
export function isLoopback(address: Address): boolean {
  return address.kind === 'unix' || isLoopbackHost(address.host);
}

/**
 * The files service (SPEC §2.4): `put`, `get`, `stat` and `list` of files
 * under one root, after the hello/auth handshake. Bodies stream to a
 * partial file, hashed as they come, fsynced, verified and renamed into
 * place; a broken upload's partial can be resumed. See docs/FILES.md.
 */
export class FilesServer implements Service {
  readonly name = 'files';
  private readonly options: FilesServerOptions;
  private readonly tcp: TcpServer;
  private readonly log: Logger;
  private readonly failures = new AuthFailures();
  private readonly byteOrder: ByteOrder;
  private store: FileStore | undefined;
  private bound: Address | undefined;
  private readonly sessions = new Set<Session>();

  constructor(options: FilesServerOptions) {
    this.options = options;
    this.byteOrder = options.byteOrder ?? 'u32be';
    this.log = (options.logger ?? silentLogger).child({ service: 'files' });
    const byteOrder = this.byteOrder;
    this.tcp = new TcpServer(
      (conn) => {
        this.serve(conn);
      },
      {
        messageTimeoutMs: 0,
        ...options.tcp,
        name: 'files',
        logger: options.logger ?? silentLogger,
        busyNotice: (error) =>
          encodeEnvelopeHeader(errorHeader(error.code, error.message), { byteOrder }),
      },
    );
  }

  async listen(address: Address): Promise<Address> {
    if (this.options.token === undefined && !isLoopback(address)) {
      throw new UsageError(
        'BAD_OPTION',
        `--insecure-no-auth is refused on ${formatAddress(address)}: serve without a token on loopback only`,
      );
    }
    this.store = await FileStore.open({
      root: this.options.root,
      logger: this.log,
      ...(this.options.allowOverwrite !== undefined
        ? { allowOverwrite: this.options.allowOverwrite }
        : {}),
      ...(this.options.maxFileSize !== undefined ? { maxFileSize: this.options.maxFileSize } : {}),
      ...(this.options.maxTotal !== undefined ? { maxTotal: this.options.maxTotal } : {}),
    });
    this.bound = await this.tcp.listen(address);
    this.log.info({
      event: 'files_ready',
      auth: this.options.token === undefined ? 'none' : 'hmac-sha256',
      allowOverwrite: this.store.allowOverwrite,
    });
    return this.bound;
  }

  get addresses(): string[] {
    return this.bound ? [`tcp ${formatAddress(this.bound)}`] : [];
  }

  get connections(): number {
    return this.tcp.connections;
  }

  async close(graceMs?: number): Promise<void> {
    await this.tcp.close(graceMs);
    // Uploads cut by the shutdown keep their partial files.
    await Promise.all([...this.sessions].map((s) => s.settled()));
  }

  private serve(conn: Connection): void {
    const store = this.store;
    if (!store) {
      conn.destroy();
      return;
    }
    const channel = new EnvelopeChannel(conn, {
      byteOrder: this.byteOrder,
      normalize: tutorialNormalizer,
    });
    const session = new Session(channel, store, this.log);
    this.sessions.add(session);
    conn.onClosed(() => {
      void session.settled().then(() => this.sessions.delete(session));
    });
    const host = conn.remoteHost;
    startAuthenticated(
      channel,
      {
        service: 'files',
        token: this.options.token,
        failures: this.failures,
        host,
        log: this.log,
        // A tutorial client never reads: in its mode the server must not speak first.
        silent: this.options.token === undefined && this.byteOrder === 'u32le',
        ...(this.options.authTimeoutMs !== undefined
          ? { timeoutMs: this.options.authTimeoutMs }
          : {}),
      },
      session.handlers,
    );
  }
}

interface PutState {
  upload: Upload;
  sha256: string | undefined;
  md5: string | undefined;
  tutorial: boolean;
  /** The body is in; waiting for `commit` (a put without sha256 in its header). */
  awaitingCommit: boolean;
  started: number;
}

/** One connection's requests, served one at a time. */
class Session {
  readonly handlers: ChannelHandlers;
  private put: PutState | undefined;
  private work: Promise<unknown> = Promise.resolve();
  private readonly conn: Connection;

  constructor(
    private readonly channel: EnvelopeChannel,
    private readonly store: FileStore,
    private readonly log: Logger,
  ) {
    this.conn = channel.connection;
    this.handlers = {
      header: (header) => {
        this.onHeader(header);
      },
      body: (chunk) => {
        this.onBody(chunk);
      },
      bodyEnd: () => {
        this.onBodyEnd();
      },
      close: () => {
        this.onClose();
      },
    };
  }

  /** Resolves when no file work of this session is left (after a close). */
  async settled(): Promise<void> {
    await this.work.catch(() => undefined);
  }

  /** Runs async work with the channel paused; a failure closes the connection with its error. */
  private run(task: () => Promise<void>, onError?: (err: SockitError) => Promise<void>): void {
    this.channel.pause();
    // Our own silence (an fsync, re-hashing a partial) is not the peer's: no idle cut meanwhile.
    this.conn.setIdleTimeout(0);
    this.work = this.work.then(task).then(
      () => {
        this.conn.setIdleTimeout(this.conn.limits.idleTimeoutMs);
        this.channel.resume();
      },
      async (err: unknown) => {
        const error = fsError(err, 'request');
        if (onError) await onError(error).catch(() => undefined);
        this.channel.fail(error);
      },
    );
  }

  private audit(
    op: string,
    fields: Record<string, unknown>,
    started: number,
    error?: SockitError,
  ): void {
    const name = typeof fields.name === 'string' ? escapeName(fields.name) : undefined;
    const record = {
      event: 'request',
      conn: this.conn.id,
      peer: this.conn.remote,
      op,
      ...fields,
      ...(name !== undefined ? { name } : {}),
      result: error ? error.code : 'ok',
      durationMs: Math.round(performance.now() - started),
    };
    if (error) {
      const cause = error.cause instanceof Error ? error.cause.message : undefined;
      this.log.warn({ ...record, reason: error.message, ...(cause ? { cause } : {}) });
    } else this.log.info(record);
  }

  private onHeader(header: EnvelopeHeader): void {
    const started = performance.now();
    if (this.put?.awaitingCommit) {
      this.onCommit(header);
      return;
    }
    switch (header.type) {
      case 'put':
      case TUTORIAL_PUT:
        this.onPut(header, started);
        return;
      case 'get':
        this.onGet(header, started);
        return;
      case 'stat':
        this.onStat(header, started);
        return;
      case 'list':
        this.onList(header, started);
        return;
      default: {
        const error = new ServiceError(
          'BAD_REQUEST',
          `unknown request "${escapeName(header.type.slice(0, 32))}" (expected put, get, stat or list)`,
        );
        this.audit(escapeName(header.type.slice(0, 32)), {}, started, error);
        // It may have a body we cannot skip safely: close.
        this.channel.fail(error);
      }
    }
  }

  private onPut(header: EnvelopeHeader, started: number): void {
    const tutorial = header.type === TUTORIAL_PUT;
    const parsed = tutorial
      ? v.safeParse(tutorialPutSchema, header)
      : v.safeParse(putRequestSchema, header);
    if (!parsed.success) {
      const error = badRequest(header.type, parsed.issues[0]);
      this.audit('put', {}, started, error);
      this.channel.fail(error);
      return;
    }
    const req = parsed.output;
    const sha256 = 'sha256' in req ? req.sha256 : undefined;
    const md5 = 'md5' in req ? req.md5 : undefined;
    const offset = 'offset' in req ? (req.offset ?? 0) : 0;
    const overwrite = 'overwrite' in req ? (req.overwrite ?? false) : false;
    // `size` is the body (SPEC §1.2): what follows this header. The file is offset + size bytes.
    const total = offset + req.size;
    const fields = { name: req.name, size: total, offset };
    if (!Number.isSafeInteger(total)) {
      const error = new ServiceError('TOO_LARGE', 'offset + size is beyond 2^53 − 1 bytes');
      this.audit('put', fields, started, error);
      this.channel.fail(error);
      return;
    }
    this.run(
      async () => {
        const upload = await this.store.beginPut({
          name: req.name,
          size: total,
          offset,
          overwrite,
          md5: md5 !== undefined,
        });
        this.put = {
          upload,
          sha256,
          md5,
          tutorial,
          awaitingCommit: false,
          started,
        };
        if (!tutorial) this.channel.send({ type: 'continue', offset });
        if (req.size === 0) await this.bodyDone();
      },
      (error) => {
        this.audit(tutorial ? 'put(tutorial)' : 'put', fields, started, error);
        return Promise.resolve();
      },
    );
  }

  private onBody(chunk: Buffer): void {
    const put = this.put;
    if (!put) return;
    let wait: Promise<void> | undefined;
    try {
      wait = put.upload.writer.push(chunk);
    } catch (err) {
      this.failPut(fsError(err, 'write'));
      return;
    }
    if (wait) {
      const pending = wait;
      pending.catch(() => undefined); // handled in run(); never an unhandled rejection meanwhile
      this.run(
        () => pending,
        (error) => this.discardPut(error),
      );
    }
  }

  private onBodyEnd(): void {
    if (!this.put) return;
    this.run(
      () => this.bodyDone(),
      (error) => this.discardPut(error),
    );
  }

  /** All body bytes are in: commit now if the hash came in the header, else wait for `commit`. */
  private async bodyDone(): Promise<void> {
    const put = this.put;
    if (!put) return;
    if (put.sha256 === undefined && !put.tutorial) {
      put.awaitingCommit = true;
      return;
    }
    await this.commit(put, put.sha256);
  }

  private onCommit(header: EnvelopeHeader): void {
    const put = this.put as PutState;
    const parsed = v.safeParse(commitSchema, header);
    if (!parsed.success) {
      this.failPut(
        new ServiceError(
          'BAD_REQUEST',
          'expected {"type":"commit","sha256":"<hex>"} after the body',
        ),
      );
      return;
    }
    this.run(
      () => this.commit(put, parsed.output.sha256),
      (error) => this.discardPut(error),
    );
  }

  private async commit(put: PutState, sha256: string | undefined): Promise<void> {
    const { upload } = put;
    this.put = undefined;
    try {
      const digest = await upload.commit({
        ...(sha256 !== undefined ? { sha256 } : {}),
        ...(put.md5 !== undefined ? { md5: put.md5 } : {}),
      });
      this.channel.send({ type: 'ok', name: upload.name, fileSize: upload.size, sha256: digest });
      this.audit(
        put.tutorial ? 'put(tutorial)' : 'put',
        { name: upload.name, size: upload.size, offset: upload.offset, sha256: digest },
        put.started,
      );
    } catch (err) {
      const error = fsError(err, 'put');
      this.audit(
        'put',
        { name: upload.name, size: upload.size, offset: upload.offset },
        put.started,
        error,
      );
      throw error;
    }
  }

  /** A put failed for good mid-body (disk full, bad commit): remove its partial, then close. */
  private async discardPut(error: SockitError): Promise<void> {
    const put = this.put;
    if (!put) return;
    this.put = undefined;
    await put.upload.discard();
    this.audit(
      'put',
      { name: put.upload.name, size: put.upload.size, offset: put.upload.offset },
      put.started,
      error,
    );
  }

  private failPut(error: SockitError): void {
    this.channel.pause();
    this.work = this.work
      .then(() => this.discardPut(error))
      .catch(() => undefined)
      .finally(() => {
        this.channel.fail(error);
      });
  }

  private onClose(): void {
    // After any work in hand: an upload cut by the peer keeps what arrived, durable, for a resume.
    this.work = this.work
      .catch(() => undefined)
      .then(async () => {
        const put = this.put;
        if (!put) return;
        this.put = undefined;
        await put.upload.keep();
        this.audit(
          'put',
          {
            name: put.upload.name,
            size: put.upload.size,
            offset: put.upload.offset,
            kept: put.upload.writer.written,
          },
          put.started,
          new ServiceError(
            'INCOMPLETE',
            'connection closed before the whole body arrived; partial kept',
          ),
        );
      })
      .catch(() => undefined);
  }

  private onStat(header: EnvelopeHeader, started: number): void {
    const parsed = v.safeParse(statRequestSchema, header);
    if (!parsed.success) {
      this.refuse('stat', badRequest('stat', parsed.issues[0]), started);
      return;
    }
    const { name } = parsed.output;
    this.run(async () => {
      try {
        const info = await this.store.stat(name);
        this.channel.send({ type: 'stat', name, ...info });
        this.audit('stat', { name }, started);
      } catch (err) {
        this.refuse('stat', fsError(err, 'stat'), started, { name });
      }
    });
  }

  private onGet(header: EnvelopeHeader, started: number): void {
    const parsed = v.safeParse(getRequestSchema, header);
    if (!parsed.success) {
      this.refuse('get', badRequest('get', parsed.issues[0]), started);
      return;
    }
    const { name } = parsed.output;
    const offset = parsed.output.offset ?? 0;
    this.run(async () => {
      let file: { fh: FileHandle; size: number };
      try {
        file = await this.store.openForRead(name);
        if (offset > file.size) {
          await file.fh.close();
          throw new ServiceError(
            'BAD_OFFSET',
            `offset ${offset} is beyond the file's ${file.size} bytes`,
          );
        }
      } catch (err) {
        this.refuse('get', fsError(err, 'get'), started, { name, offset });
        return;
      }
      try {
        const sha256 = await this.sendFile(name, file.fh, file.size, offset);
        if (sha256 !== undefined)
          this.audit('get', { name, size: file.size, offset, sha256 }, started);
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
  private async sendFile(
    name: string,
    fh: FileHandle,
    total: number,
    offset: number,
  ): Promise<string | undefined> {
    const hash = createHash('sha256');
    this.channel.send({ type: 'file', name, size: total - offset, total, offset });
    await hashPrefix(fh, offset, [hash]);
    try {
      const pool = new BufferPool();
      for await (const piece of readRange(fh, offset, total, pool)) {
        if (this.conn.isClosed) return undefined;
        // Queue the bytes first, then hash them while the kernel sends them.
        const ok = this.channel.sendBody(piece);
        hash.update(piece);
        pool.sent(piece);
        if (!ok) await this.channel.drained();
        if (this.conn.pendingWrite === 0) pool.reclaim();
      }
    } catch (err) {
      // Mid-body an error envelope would be read as body bytes: cut the connection instead.
      this.conn.destroy(fsError(err, 'get'));
      return undefined;
    }
    if (this.conn.isClosed) return undefined;
    const sha256 = hash.digest('hex');
    this.channel.send({ type: 'done', sha256 });
    return sha256;
  }

  private onList(header: EnvelopeHeader, started: number): void {
    const parsed = v.safeParse(listRequestSchema, header);
    if (!parsed.success) {
      this.refuse('list', badRequest('list', parsed.issues[0]), started);
      return;
    }
    const { prefix } = parsed.output;
    this.run(async () => {
      let count = 0;
      try {
        for await (const entry of this.store.list(prefix)) {
          if (this.conn.isClosed) return;
          count++;
          if (
            !this.channel.send({
              type: 'entry',
              name: entry.name,
              fileSize: entry.size,
              mtimeMs: entry.mtimeMs,
            })
          )
            await this.channel.drained();
        }
      } catch (err) {
        this.refuse(
          'list',
          fsError(err, 'list'),
          started,
          prefix !== undefined ? { name: prefix } : {},
        );
        return;
      }
      this.channel.send({ type: 'end', count });
      this.audit('list', { count, ...(prefix !== undefined ? { name: prefix } : {}) }, started);
    });
  }

  /** A request without a body refused: the error is sent, the connection stays. */
  private refuse(
    op: string,
    error: SockitError,
    started: number,
    fields: Record<string, unknown> = {},
  ): void {
    this.channel.sendError(error);
    this.audit(op, fields, started, error);
  }
}

function badRequest(type: string, issue: v.BaseIssue<unknown>): ServiceError {
  return new ServiceError(
    'BAD_REQUEST',
    `bad ${escapeName(type.slice(0, 32))} request: ${describeIssue(issue, 'request')}`,
  );
}

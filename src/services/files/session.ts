import { ServiceError, type SockitError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { EnvelopeHeader } from '../../protocol/envelope.js';
import type { Connection } from '../../transport/connection.js';
import type { ChannelHandlers, EnvelopeChannel } from '../../transport/envelope-channel.js';
import { serveGet, serveStat } from './get.js';
import { serveList } from './listing.js';
import { TUTORIAL_PUT, escapeName } from './messages.js';
import { fsError } from './fs-error.js';
import { PutHandler } from './put.js';
import type { RequestContext } from './request-context.js';
import type { FileStore } from './store.js';

/**
 * One authenticated files connection: requests served one at a time, each
 * with the channel paused while its file work runs, each audited once.
 */
export class FilesSession implements RequestContext {
  readonly handlers: ChannelHandlers;
  readonly conn: Connection;
  private readonly puts: PutHandler;
  private work: Promise<unknown> = Promise.resolve();

  constructor(
    readonly channel: EnvelopeChannel,
    readonly store: FileStore,
    private readonly log: Logger,
  ) {
    this.conn = channel.connection;
    this.puts = new PutHandler(this);
    this.handlers = {
      header: (header) => {
        this.onHeader(header);
      },
      body: (chunk) => {
        this.puts.body(chunk);
      },
      bodyEnd: () => {
        this.puts.bodyEnd();
      },
      close: () => {
        // After any work in hand: an upload cut by the peer keeps what arrived.
        this.after(() => this.puts.closed());
      },
    };
  }

  /** Resolves when no file work of this session is left (after a close). */
  async settled(): Promise<void> {
    await this.work.catch(() => undefined);
  }

  run(task: () => Promise<void>, onError?: (err: SockitError) => Promise<void>): void {
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

  after(task: () => Promise<void>): void {
    this.work = this.work
      .catch(() => undefined)
      .then(task)
      .catch(() => undefined);
  }

  audit(op: string, fields: Record<string, unknown>, started: number, error?: SockitError): void {
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

  refuse(
    op: string,
    error: SockitError,
    started: number,
    fields: Record<string, unknown> = {},
  ): void {
    this.channel.sendError(error);
    this.audit(op, fields, started, error);
  }

  private onHeader(header: EnvelopeHeader): void {
    const started = performance.now();
    if (this.puts.awaitingCommit) {
      this.puts.commitHeader(header);
      return;
    }
    switch (header.type) {
      case 'put':
      case TUTORIAL_PUT:
        this.puts.start(header, started);
        return;
      case 'get':
        serveGet(this, header, started);
        return;
      case 'stat':
        serveStat(this, header, started);
        return;
      case 'list':
        serveList(this, header, started);
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
}

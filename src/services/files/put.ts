import * as v from 'valibot';
import { ServiceError, type SockitError } from '../../errors.js';
import type { EnvelopeHeader } from '../../protocol/envelope.js';
import { TUTORIAL_PUT, commitSchema, putRequestSchema, tutorialPutSchema } from './messages.js';
import { fsError } from './fs-error.js';
import { badRequest, type RequestContext } from './request-context.js';
import type { Upload } from './upload.js';

interface PutState {
  upload: Upload;
  sha256: string | undefined;
  md5: string | undefined;
  tutorial: boolean;
  /** The body is in; waiting for `commit` (a put without sha256 in its header). */
  awaitingCommit: boolean;
  started: number;
}

/**
 * A session's uploads, one at a time: the `put` header opens a partial
 * (upload.ts), body chunks stream into it, and the hash in the header or in
 * the `commit` after the body decides whether it is stored. A connection
 * that breaks mid-body keeps its partial for a resume.
 */
export class PutHandler {
  private put: PutState | undefined;

  constructor(private readonly ctx: RequestContext) {}

  /** The body is in and the next header must be its `commit`. */
  get awaitingCommit(): boolean {
    return this.put?.awaitingCommit ?? false;
  }

  /** A `put` (or the tutorial's) header. */
  start(header: EnvelopeHeader, started: number): void {
    const { ctx } = this;
    const tutorial = header.type === TUTORIAL_PUT;
    const parsed = tutorial
      ? v.safeParse(tutorialPutSchema, header)
      : v.safeParse(putRequestSchema, header);
    if (!parsed.success) {
      const error = badRequest(header.type, parsed.issues[0]);
      ctx.audit('put', {}, started, error);
      ctx.channel.fail(error);
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
      ctx.audit('put', fields, started, error);
      ctx.channel.fail(error);
      return;
    }
    ctx.run(
      async () => {
        const upload = await ctx.store.beginPut({
          name: req.name,
          size: total,
          offset,
          overwrite,
          md5: md5 !== undefined,
        });
        this.put = { upload, sha256, md5, tutorial, awaitingCommit: false, started };
        if (!tutorial) ctx.channel.send({ type: 'continue', offset });
        if (req.size === 0) await this.bodyDone();
      },
      (error) => {
        ctx.audit(tutorial ? 'put(tutorial)' : 'put', fields, started, error);
        return Promise.resolve();
      },
    );
  }

  body(chunk: Buffer): void {
    const put = this.put;
    if (!put) return;
    let wait: Promise<void> | undefined;
    try {
      wait = put.upload.writer.push(chunk);
    } catch (err) {
      this.fail(fsError(err, 'write'));
      return;
    }
    if (wait) {
      const pending = wait;
      pending.catch(() => undefined); // handled in run(); never an unhandled rejection meanwhile
      this.ctx.run(
        () => pending,
        (error) => this.discard(error),
      );
    }
  }

  bodyEnd(): void {
    if (!this.put) return;
    this.ctx.run(
      () => this.bodyDone(),
      (error) => this.discard(error),
    );
  }

  /** The header after a body whose put carried no sha256: it must be `commit`. */
  commitHeader(header: EnvelopeHeader): void {
    const put = this.put as PutState;
    const parsed = v.safeParse(commitSchema, header);
    if (!parsed.success) {
      this.fail(
        new ServiceError(
          'BAD_REQUEST',
          'expected {"type":"commit","sha256":"<hex>"} after the body',
        ),
      );
      return;
    }
    this.ctx.run(
      () => this.commit(put, parsed.output.sha256),
      (error) => this.discard(error),
    );
  }

  /** The connection closed (after any work in hand): an upload cut by the peer keeps what arrived, durable, for a resume. */
  async closed(): Promise<void> {
    await this.end(
      'keep',
      new ServiceError(
        'INCOMPLETE',
        'connection closed before the whole body arrived; partial kept',
      ),
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

  private async commit(put: PutState, sha256: string | undefined): Promise<void> {
    const { upload } = put;
    this.put = undefined;
    try {
      const digest = await upload.commit({
        ...(sha256 !== undefined ? { sha256 } : {}),
        ...(put.md5 !== undefined ? { md5: put.md5 } : {}),
      });
      this.ctx.channel.send({
        type: 'ok',
        name: upload.name,
        fileSize: upload.size,
        sha256: digest,
      });
      this.ctx.audit(
        put.tutorial ? 'put(tutorial)' : 'put',
        { name: upload.name, size: upload.size, offset: upload.offset, sha256: digest },
        put.started,
      );
    } catch (err) {
      const error = fsError(err, 'put');
      this.ctx.audit(
        'put',
        { name: upload.name, size: upload.size, offset: upload.offset },
        put.started,
        error,
      );
      throw error;
    }
  }

  /** A put failed for good mid-body (disk full, bad commit): remove its partial, then close. */
  private discard(error: SockitError): Promise<void> {
    return this.end('discard', error);
  }

  /** Ends the upload in hand without storing it: its partial kept or removed, and audited. */
  private async end(how: 'keep' | 'discard', error: SockitError): Promise<void> {
    const put = this.put;
    if (!put) return;
    this.put = undefined;
    const { upload } = put;
    await (how === 'keep' ? upload.keep() : upload.discard());
    this.ctx.audit(
      'put',
      {
        name: upload.name,
        size: upload.size,
        offset: upload.offset,
        ...(how === 'keep' ? { kept: upload.writer.written } : {}),
      },
      put.started,
      error,
    );
  }

  private fail(error: SockitError): void {
    this.ctx.channel.pause();
    this.ctx.after(async () => {
      await this.discard(error).catch(() => undefined);
      this.ctx.channel.fail(error);
    });
  }
}

import * as v from 'valibot';
import { ServiceError, type SockitError } from '../../errors.js';
import { describeIssue } from '../../protocol/schema-issue.js';
import type { EnvelopeHeader } from '../../protocol/envelope.js';
import type { Connection } from '../../transport/connection.js';
import type { EnvelopeChannel } from '../../transport/envelope-channel.js';
import { escapeName } from './messages.js';
import type { FileStore } from './store.js';

/** What a request handler (put.ts, get.ts, listing.ts) may use of its session. */
export interface RequestContext {
  readonly channel: EnvelopeChannel;
  readonly conn: Connection;
  readonly store: FileStore;
  /** Runs async work with the channel paused; a failure closes the connection with its error. */
  run(task: () => Promise<void>, onError?: (err: SockitError) => Promise<void>): void;
  /** Runs `task` after the work in hand, its failure ignored (cleanup on the way out). */
  after(task: () => Promise<void>): void;
  /** One log record per request. */
  audit(op: string, fields: Record<string, unknown>, started: number, error?: SockitError): void;
  /** A request without a body refused: the error is sent, the connection stays. */
  refuse(op: string, error: SockitError, started: number, fields?: Record<string, unknown>): void;
}

export function badRequest(type: string, issue: v.BaseIssue<unknown>): ServiceError {
  return new ServiceError(
    'BAD_REQUEST',
    `bad ${escapeName(type.slice(0, 32))} request: ${describeIssue(issue, 'request')}`,
  );
}

/** A body-less request's header checked against `schema`; refused (connection kept) when it fails. */
export function parseRequest<S extends v.GenericSchema>(
  ctx: RequestContext,
  schema: S,
  header: EnvelopeHeader,
  started: number,
): v.InferOutput<S> | undefined {
  const parsed = v.safeParse(schema, header);
  if (parsed.success) return parsed.output;
  ctx.refuse(header.type, badRequest(header.type, parsed.issues[0]), started);
  return undefined;
}

/**
 * One chat client as the broker sees it: its nick, rooms, input queue, rate
 * bucket, liveness clocks and the output of the current turn. Plain state;
 * the server (server.ts), dispatch (dispatch.ts), broker (broker.ts) and
 * outbound queue (outbound.ts) act on it.
 */
import type { ServiceError } from '../../errors.js';
import type { ByteOrder } from '../../protocol/byte-order.js';
import type { Connection } from '../../transport/connection.js';
import type { ChatRequest } from './messages.js';

/** The per-client request rate: a token bucket (`perSecond`, `burst`). */
export interface ChatRateLimit {
  /** Requests per second a client may sustain. */
  ratePerSec: number;
  /** Requests a quiet client may send at once. */
  burst: number;
}

/**
 * What the broker needs of a client's transport: bytes in through
 * `start(handlers)`, bytes out through `write`/`end`, and flow control. A
 * TCP or TLS `Connection` is one; a WebSocket gateway can be another (one
 * WebSocket message carrying one envelope frame). `setKeepAlive`, where the
 * transport has it, lets `nc` users (who cannot answer pings) be found dead.
 */
export type ChatConnection = Pick<
  Connection,
  'id' | 'start' | 'pendingWrite' | 'write' | 'end' | 'destroy' | 'pause' | 'resume'
> & { setKeepAlive?(ms: number): void };

/** A client's wire format once known: text lines, or envelopes in a byte order. */
export type Format = 'text' | ByteOrder;

/** One decoded thing to act on, in stream order. */
export type Work =
  | { kind: 'hello' }
  /** `unterminated`: ended by a pause after a read, not by a line end (see server.ts). */
  | { kind: 'line'; line: string; unterminated: boolean }
  | { kind: 'request'; request: ChatRequest }
  | { kind: 'bad'; error: ServiceError; ref: string | number | undefined }
  | { kind: 'end' };

export class Session {
  nick = '';
  format: Format | undefined;
  readonly rooms = new Set<string>();
  current: string | undefined;
  /** Set once the client is on its way out: no more input acted on, no more output queued. */
  gone = false;
  /** Set once it has left its rooms and freed its nick. */
  departed = false;
  readonly queue: Work[] = [];
  /** Over its rate: input is not read until the resume timer. */
  paused = false;
  /** Waiting for the bus to answer one of its requests: the next waits too. */
  waiting = false;
  /** Its room messages the bus has not accepted yet (pipelined, at most MAX_PENDING_SAYS). */
  pendingSays = 0;
  /** It has MAX_PENDING_SAYS out: input waits until one is accepted. */
  saysFull = false;
  /** Input other than a say waits until every pending say is settled. */
  saysBarrier = false;
  resumeTimer: NodeJS.Timeout | undefined;
  graceTimer: NodeJS.Timeout | undefined;
  tokens: number;
  tokensAt: number;
  lastInputMs: number;
  pingSentMs: number | undefined;
  readonly connectedMs: number;
  /** Output of this turn not yet handed to the transport (see Outbound.queue). */
  out: Buffer[] | undefined;
  outBytes = 0;

  constructor(
    readonly conn: ChatConnection,
    burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.tokensAt = nowMs;
    this.lastInputMs = nowMs;
    this.connectedMs = nowMs;
  }

  /** Whether its input may be acted on now. */
  get ready(): boolean {
    return !this.paused && !this.waiting && !this.saysFull && !this.saysBarrier && !this.gone;
  }
}

export function needsToken(work: Work): boolean {
  if (work.kind === 'request') return work.request.type !== 'pong' && work.request.type !== 'ping';
  return work.kind === 'line';
}

export function refOf(work: Work): string | number | undefined {
  if (work.kind === 'bad') return work.ref;
  if (work.kind === 'request' && 'ref' in work.request) return work.request.ref;
  return undefined;
}

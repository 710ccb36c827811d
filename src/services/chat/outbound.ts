/**
 * Output to chat clients: each event encoded at most once per wire format
 * (`Outgoing`), each client's output of one event-loop turn handed to its
 * transport in one write (`Outbound`), and the queue bound that cuts off a
 * client that does not read (SLOW_CONSUMER) instead of making anyone wait.
 */
import { LimitError, type SockitError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ByteOrder } from '../../protocol/byte-order.js';
import { encodeEnvelopeHeader, type EnvelopeHeader } from '../../protocol/envelope.js';
import { encodeTextNotice } from '../../protocol/text-notice.js';
import { formatTextEvent, type ChatEvent } from './messages.js';
import type { Format, Session } from './session.js';

const RESOLVED = Promise.resolve();

/** An event encoded at most once per wire format, however many clients receive it. */
export class Outgoing {
  private text: Buffer | undefined;
  private readonly frames: Partial<Record<ByteOrder, Buffer>> = {};

  constructor(readonly event: ChatEvent) {}

  bytes(format: Format): Buffer | undefined {
    if (format === 'text') {
      if (this.text === undefined) {
        const line = formatTextEvent(this.event);
        if (line === undefined) return undefined;
        this.text = Buffer.from(`${line}\n`);
      }
      return this.text;
    }
    return (this.frames[format] ??= encodeEnvelopeHeader(this.event as unknown as EnvelopeHeader, {
      byteOrder: format,
    }));
  }
}

/** The bytes that tell a client why it is being closed, in its own format. */
export function noticeFor(session: Session, error: SockitError): Buffer {
  const format = session.format ?? 'text';
  if (format === 'text') return encodeTextNotice(error.code, error.message);
  return encodeEnvelopeHeader(
    { type: 'error', code: error.code, message: error.message },
    { byteOrder: format },
  );
}

export interface OutboundStats {
  slowConsumers: number;
  peakQueued: number;
}

export class Outbound {
  /** Sessions with output queued in this turn, written by one microtask. */
  private readonly unflushed: Session[] = [];
  private flushScheduled = false;
  private readonly flushTask = (): void => {
    this.flushAll();
  };

  constructor(
    private readonly maxQueue: number,
    private readonly stats: OutboundStats,
    private readonly log: Logger,
    /** Ends a client that would pass `maxQueue` (the broker's cut-off). */
    private readonly cutOff: (session: Session, error: SockitError) => void,
  ) {}

  /** Queues one event for one client, or cuts it off if its queue is full. Never waits. */
  deliver(session: Session, out: Outgoing): void {
    if (session.gone || session.format === undefined) return;
    const bytes = out.bytes(session.format);
    if (bytes === undefined) return;
    const conn = session.conn;
    const queued = conn.pendingWrite + session.outBytes;
    if (queued + bytes.length > this.maxQueue) {
      this.stats.slowConsumers++;
      this.log.warn({ event: 'slow_consumer', conn: conn.id, nick: session.nick, queued });
      this.cutOff(
        session,
        new LimitError(
          'SLOW_CONSUMER',
          `you are not reading: ${queued} bytes queued (limit ${this.maxQueue})`,
        ),
      );
      return;
    }
    this.queue(session, bytes);
  }

  broadcast(members: Iterable<Session>, out: Outgoing, except?: Session): void {
    for (const member of members) if (member !== except) this.deliver(member, out);
  }

  /** A line for a text client only (help, confirmations). */
  sendLine(session: Session, line: string): void {
    if (!session.gone) this.queue(session, Buffer.from(`${line}\n`));
  }

  /**
   * Queues bytes for a client. Everything queued for it in one turn of the
   * event loop goes to its transport in one write: a sender's batch of N
   * messages costs each member of the room one write, not N (a fan-out to
   * 100 clients was 10× the baseline's CPU per delivery with a write per
   * message, measured in bench/chat.bench.ts). Order is kept: every other
   * write to a client's transport flushes this first (`flush`).
   */
  queue(session: Session, bytes: Buffer): void {
    if (session.out === undefined) {
      session.out = [bytes];
      this.unflushed.push(session);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        void RESOLVED.then(this.flushTask);
      }
    } else session.out.push(bytes);
    session.outBytes += bytes.length;
  }

  /** Hands a client's queued output to its transport now. */
  flush(session: Session): void {
    const out = session.out;
    if (out === undefined) return;
    this.write(session, out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
  }

  private flushAll(): void {
    const sessions = this.unflushed;
    // Members of one room usually got the very same events: join them into one buffer once.
    let last: Buffer[] | undefined;
    let joined: Buffer | undefined;
    try {
      for (let i = 0; i < sessions.length; i++) {
        const session = sessions[i] as Session;
        const out = session.out;
        if (out === undefined) continue;
        if (last === undefined || !sameBuffers(out, last)) {
          last = out;
          joined = out.length === 1 ? out[0] : Buffer.concat(out, session.outBytes);
        }
        this.write(session, joined as Buffer);
      }
    } finally {
      sessions.length = 0;
      this.flushScheduled = false;
    }
  }

  private write(session: Session, bytes: Buffer): void {
    session.out = undefined;
    session.outBytes = 0;
    const conn = session.conn;
    conn.write(bytes);
    if (conn.pendingWrite > this.stats.peakQueued) this.stats.peakQueued = conn.pendingWrite;
  }
}

/** Whether two output lists hold the same buffers (the same objects), in the same order. */
function sameBuffers(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

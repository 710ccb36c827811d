/**
 * A chat client's bytes turned into work on its queue, in stream order: text
 * lines (nc, telnet, tutorial programs) or envelope requests. One decoder per
 * client, chosen by its first byte (server.ts).
 */
import { ProtocolError, ServiceError } from '../../errors.js';
import type { ByteOrder } from '../../protocol/byte-order.js';
import { EnvelopeDecoder } from '../../protocol/envelope.js';
import { LineDecoder } from '../../protocol/line-decoder.js';
import { parseChatRequest } from './messages.js';
import type { Session } from './session.js';

export interface Decoder {
  push(chunk: Buffer): void;
  end(): void;
  /** Whether a line or envelope is part-way through (arms the message deadline). */
  inMessage(): boolean;
}

/**
 * Text lines. A read that ends inside a line, followed by `settleMs` of
 * silence, makes the line what was read (marked `unterminated`), and
 * `settled` is called to act on it.
 */
export function lineDecoder(
  session: Session,
  maxLine: number,
  settleMs: number,
  settled: () => void,
): Decoder {
  let settling = false;
  const lines = new LineDecoder(
    (line) => {
      session.queue.push({ kind: 'line', line: line.toString('utf8'), unterminated: settling });
    },
    { maxLine },
  );
  const settle = (): void => {
    session.settleTimer = undefined;
    if (session.gone || lines.bufferedBytes === 0) return;
    settling = true;
    try {
      lines.end();
    } finally {
      settling = false;
    }
    settled();
  };
  return {
    push: (chunk) => {
      clearSettle(session);
      lines.push(chunk);
      if (lines.bufferedBytes > 0 && settleMs > 0) {
        session.settleTimer = setTimeout(settle, settleMs);
      }
    },
    end: () => {
      clearSettle(session);
      lines.end();
    },
    inMessage: () => lines.bufferedBytes > 0,
  };
}

/** Envelope requests: each validated; an invalid one is queued as `bad` (an error event, in order). */
export function envelopeDecoder(session: Session, byteOrder: ByteOrder): Decoder {
  const envelopes = new EnvelopeDecoder(
    {
      onHeader: (header) => {
        if ((header.size ?? 0) > 0) {
          throw new ProtocolError('BAD_REQUEST', 'chat envelopes carry no body');
        }
        const ref = header.ref;
        try {
          session.queue.push({ kind: 'request', request: parseChatRequest(header) });
        } catch (err) {
          if (!(err instanceof ServiceError)) throw err;
          session.queue.push({
            kind: 'bad',
            error: err,
            ref: typeof ref === 'string' || typeof ref === 'number' ? ref : undefined,
          });
        }
      },
    },
    { byteOrder },
  );
  return {
    push: (chunk) => {
      envelopes.push(chunk);
    },
    end: () => {
      envelopes.end();
    },
    inMessage: () => envelopes.inMessage,
  };
}

export function clearSettle(session: Session): void {
  if (session.settleTimer === undefined) return;
  clearTimeout(session.settleTimer);
  session.settleTimer = undefined;
}

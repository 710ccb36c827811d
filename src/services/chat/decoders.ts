/**
 * A chat client's bytes turned into work on its queue, in stream order: text
 * lines (nc, telnet, tutorial programs) or envelope requests. One decoder per
 * client, chosen by its first byte (server.ts).
 */
import { ProtocolError, ServiceError } from '../../errors.js';
import type { ByteOrder } from '../../protocol/byte-order.js';
import { EnvelopeDecoder } from '../../protocol/envelope.js';
import { SettlingLines } from '../common/settling-lines.js';
import { parseChatRequest } from './messages.js';
import type { Session } from './session.js';

export interface Decoder {
  push(chunk: Buffer): void;
  end(): void;
  /** Whether a line or envelope is part-way through (arms the message deadline). */
  inMessage(): boolean;
  /** The client is gone: drop any pending timer. */
  cancel(): void;
}

/**
 * Text lines. A read that ends inside a line, followed by `settleMs` of
 * silence, makes the line what was read (marked `unterminated`), and
 * `settled` is called to act on it (services/common/settling-lines.ts).
 */
export function lineDecoder(
  session: Session,
  maxLine: number,
  settleMs: number,
  settled: () => void,
): Decoder {
  const lines = new SettlingLines(
    (line, terminated) => {
      if (session.gone) return;
      session.queue.push({ kind: 'line', line: line.toString('utf8'), unterminated: !terminated });
    },
    { maxLine, settleMs, settled },
  );
  return {
    push: (chunk) => {
      lines.push(chunk);
    },
    end: () => {
      lines.end();
    },
    inMessage: () => lines.bufferedBytes > 0,
    cancel: () => {
      lines.cancel();
    },
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
    cancel: () => undefined,
  };
}

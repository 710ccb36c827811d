import { isErrorCode, type ErrorCode } from '../errors.js';

/**
 * A notice a text-speaking service sends before it closes a connection:
 * one line, `error CODE: message`. Framed sockit clients recognise it too: its
 * first four bytes ("erro") would be a length far above any maxFrame, so no
 * real frame can be mistaken for it. docs/PROTOCOL.md §Notices.
 */
const PREFIX = 'error ';

/** The line `error CODE: message\n` that tells a text client why it is being closed. */
export function encodeTextNotice(code: ErrorCode, message: string): Buffer {
  // One line: a message must not be able to forge a second notice.
  return Buffer.from(`${PREFIX}${code}: ${message.replace(/[\r\n]+/g, ' ')}\n`);
}

/** Parses a notice at the start of `bytes`, or returns undefined. */
export function parseTextNotice(
  bytes: Uint8Array,
): { code: ErrorCode; message: string } | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 1024)).toString(
    'latin1',
  );
  const match = /^error ([A-Z_]+): ([^\n]*)\n?/.exec(text);
  if (!match) return undefined;
  const code = match[1];
  if (!isErrorCode(code)) return undefined;
  return { code, message: match[2] ?? '' };
}

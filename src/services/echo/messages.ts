import { UsageError } from '../../errors.js';
import { ECHO_PORT } from '../../ports.js';

/** Default port (src/ports.ts, SPEC §2). */
export { ECHO_PORT };

/** SPEC §2.1: how the echo service answers each message. */
export type ReplyMode = 'upper' | 'echo' | 'hello';

/** How the echo service answers: `upper` (the default), `echo`, or `hello` ("Hello, <msg>!"). */
export const REPLY_MODES: readonly ReplyMode[] = ['upper', 'echo', 'hello'];

export function parseReplyMode(value: string): ReplyMode {
  if ((REPLY_MODES as readonly string[]).includes(value)) return value as ReplyMode;
  throw new UsageError(
    'BAD_OPTION',
    `unknown reply mode "${value}" (expected one of ${REPLY_MODES.join(', ')})`,
  );
}

/** What `--reply hello` says on connect. */
export const WELCOME = 'Welcome!';

/** In hello mode this message closes the connection. */
export const EXIT_MESSAGE = 'exit';

/** Upper-cases ASCII letters in place (upper-ascii.ts: SWAR or WebAssembly SIMD by size); every other byte, UTF-8 included, is left alone. */
export { upperAsciiInPlace } from './upper-ascii.js';

/** `Hello, <message>!` for a message (a frame, a line or a datagram). */
export function helloReply(message: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from('Hello, '), message, Buffer.from('!')]);
}

/** Whether a message is the `exit` command (a trailing CR/LF is ignored). */
export function isExit(message: Uint8Array): boolean {
  return stripLineEnd(message).toString() === EXIT_MESSAGE;
}

/** Drops one trailing LF or CRLF (datagrams typed into `nc -u` end with one). */
export function stripLineEnd(message: Uint8Array): Buffer {
  let end = message.length;
  if (end > 0 && message[end - 1] === 0x0a) end--;
  if (end > 0 && message[end - 1] === 0x0d) end--;
  return Buffer.from(message.buffer, message.byteOffset, end);
}

import * as v from 'valibot';
import { escapeText } from './terminal-text.js';

/** Longest piece of peer input (a refused value, a key) quoted in a message. */
const MAX_QUOTED = 32;

/** Peer text as a message may quote it: at most MAX_QUOTED characters, then `…`; escaped. */
function peerText(text: string): string {
  if (text.length <= MAX_QUOTED) return escapeText(text);
  // Never cut a surrogate pair in two.
  const end = /[\ud800-\udbff]/.test(text.charAt(MAX_QUOTED - 1)) ? MAX_QUOTED - 1 : MAX_QUOTED;
  return `${escapeText(text.slice(0, end))}…`;
}

/**
 * How a schema issue reads in an error message: which field, then why —
 * `"argv.0": Invalid length: Expected <=32768 but received 40000`. An issue
 * about the value as a whole is prefixed with `subject` (`header: …`), or
 * with nothing. valibot's own messages end with the refused value: like the
 * path, it is cut and escaped, so an error never echoes a whole header or a
 * terminal escape.
 */
export function describeIssue(issue: v.BaseIssue<unknown>, subject?: string): string {
  const { message, received } = issue;
  let why = message;
  if (message.endsWith(received)) {
    const quoted = received.length >= 2 && received.startsWith('"') && received.endsWith('"');
    why =
      message.slice(0, message.length - received.length) +
      (quoted ? `"${peerText(received.slice(1, -1))}"` : peerText(received));
  }
  const path = v.getDotPath(issue);
  const where = path ? `"${peerText(path)}"` : subject;
  return where !== undefined ? `${where}: ${why}` : why;
}

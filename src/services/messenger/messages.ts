import * as v from 'valibot';
import { LimitError, ProtocolError, UsageError } from '../../errors.js';
import { parseAddress } from '../../transport/address.js';
import type { UdpPeer } from '../../transport/udp-server.js';
import { MESSENGER_PORT } from '../../ports.js';

/** Default port (src/ports.ts, SPEC §2). */
export { MESSENGER_PORT };

/** Largest datagram the messenger reads (bytes); larger ones are dropped whole. */
export const MAX_MESSENGER_DATAGRAM = 8 * 1024;

/** Longest message text (UTF-8 bytes). */
export const MAX_MESSENGER_TEXT = 4 * 1024;

/** Longest sender name carried in `from`. */
const MAX_FROM = 64;

/**
 * The retransmission schedule: the first retry after `initialMs`, then
 * doubling up to `maxMs` (±10 % jitter), for at most `attempts` sends in all.
 * With the defaults a message is given up (UNDELIVERED) after 8 sends, about
 * 9 seconds.
 */
export interface RetrySchedule {
  initialMs: number;
  maxMs: number;
  attempts: number;
}

export const DEFAULT_RETRY: Readonly<RetrySchedule> = { initialMs: 200, maxMs: 2_000, attempts: 8 };

/** The wait before send number `attempt + 1` (attempt counts from 1), without jitter. */
export function retryDelay(schedule: RetrySchedule, attempt: number): number {
  return Math.min(schedule.maxMs, schedule.initialMs * 2 ** Math.max(0, attempt - 1));
}

/** What one datagram is. */
export type MessengerDatagram =
  | { kind: 'msg'; id: string; from: string | undefined; text: string; ts: number | undefined }
  | { kind: 'ack'; id: string }
  | { kind: 'plain'; text: string };

const id = v.pipe(v.string(), v.regex(/^[0-9A-Za-z_-]{1,64}$/));
const msgSchema = v.object({
  type: v.literal('msg'),
  id,
  from: v.optional(v.pipe(v.string(), v.maxLength(MAX_FROM))),
  text: v.string(),
  ts: v.optional(v.pipe(v.number(), v.finite())),
});
const ackSchema = v.object({ type: v.literal('ack'), id });

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes one datagram. JSON objects whose `type` is `msg` or `ack` are
 * messenger datagrams (and must be well formed); anything else that is UTF-8
 * is a plain message, as a tutorial's `sock.sendto(b"hi", addr)` sends (one
 * trailing newline dropped). Throws only ProtocolError / LimitError:
 * DATAGRAM_TOO_LARGE, MESSAGE_TOO_LONG, BAD_REQUEST.
 */
export function decodeDatagram(bytes: Uint8Array, maxText = MAX_MESSENGER_TEXT): MessengerDatagram {
  if (bytes.length > MAX_MESSENGER_DATAGRAM) {
    throw new LimitError(
      'DATAGRAM_TOO_LARGE',
      `datagram of ${bytes.length} bytes exceeds ${MAX_MESSENGER_DATAGRAM}`,
    );
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (err) {
    throw new ProtocolError('BAD_REQUEST', 'datagram is not UTF-8 text', { cause: err });
  }
  const parsed = text.startsWith('{') ? tryJson(text) : undefined;
  if (parsed !== undefined && (parsed.type === 'msg' || parsed.type === 'ack')) {
    if (parsed.type === 'ack') {
      const ack = v.safeParse(ackSchema, parsed);
      if (!ack.success) throw new ProtocolError('BAD_REQUEST', 'malformed ack');
      return { kind: 'ack', id: ack.output.id };
    }
    const msg = v.safeParse(msgSchema, parsed);
    if (!msg.success) throw new ProtocolError('BAD_REQUEST', 'malformed message');
    checkMessengerText(msg.output.text, maxText);
    return {
      kind: 'msg',
      id: msg.output.id,
      from: msg.output.from,
      text: msg.output.text,
      ts: msg.output.ts,
    };
  }
  // What starts like one of our datagrams but does not parse is a damaged one
  // (truncated, corrupted): dropped, never shown as a plain message from its sender.
  if (parsed === undefined && /^\{\s*"type"\s*:\s*"(msg|ack)"/.test(text)) {
    throw new ProtocolError('BAD_REQUEST', 'damaged messenger datagram');
  }
  const plain = text.replace(/\r?\n$/, '');
  if (plain.length === 0) throw new ProtocolError('BAD_REQUEST', 'empty datagram');
  checkMessengerText(plain, maxText);
  return { kind: 'plain', text: plain };
}

function tryJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function checkMessengerText(text: string, maxText: number): void {
  const bytes = Buffer.byteLength(text);
  if (bytes > maxText) {
    throw new ProtocolError('MESSAGE_TOO_LONG', `message of ${bytes} bytes exceeds ${maxText}`);
  }
  if (text.length === 0) throw new ProtocolError('BAD_REQUEST', 'empty message');
}

export function encodeMessage(message: {
  id: string;
  from?: string;
  text: string;
  ts?: number;
}): Buffer {
  return Buffer.from(
    JSON.stringify({
      type: 'msg',
      id: message.id,
      ...(message.from !== undefined ? { from: message.from } : {}),
      text: message.text,
      ...(message.ts !== undefined ? { ts: message.ts } : {}),
    }),
  );
}

export function encodeAck(messageId: string): Buffer {
  return Buffer.from(JSON.stringify({ type: 'ack', id: messageId }));
}

/** `host:port` of a peer, the key contacts and duplicate memory use. */
export function peerKey(peer: UdpPeer): string {
  return peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : `${peer.host}:${peer.port}`;
}

/** Contact names: letters, digits, `_ - .`, up to 32. */
const CONTACT_RE = /^[A-Za-z0-9_.-]{1,32}$/;

/** Parses `name=host:port` (a --contact flag). */
export function parseContact(text: string): [string, UdpPeer] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError('BAD_OPTION', `expected name=host:port, got "${text}"`);
  return [contactName(text.slice(0, eq)), contactAddress(text.slice(eq + 1))];
}

/**
 * Parses a contacts file: a JSON object `{"bob": "127.0.0.1:7196", …}`.
 * Throws UsageError BAD_OPTION for anything else.
 */
export function parseContacts(json: string): Map<string, UdpPeer> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new UsageError('BAD_OPTION', 'contacts file is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError('BAD_OPTION', 'contacts file must be an object: {"name": "host:port"}');
  }
  const contacts = new Map<string, UdpPeer>();
  for (const [name, address] of Object.entries(value)) {
    if (typeof address !== 'string') {
      throw new UsageError('BAD_OPTION', `contact "${name}": address must be "host:port"`);
    }
    contacts.set(contactName(name), contactAddress(address));
  }
  return contacts;
}

function contactName(name: string): string {
  if (!CONTACT_RE.test(name)) {
    throw new UsageError(
      'BAD_OPTION',
      `bad contact name "${name.slice(0, 40)}": 1–32 letters, digits, _ - .`,
    );
  }
  return name;
}

/** `host:port` (the port defaults to 7195) as a UDP peer. */
export function contactAddress(text: string): UdpPeer {
  const address = parseAddress(text, { port: MESSENGER_PORT });
  if (address.kind !== 'inet') {
    throw new UsageError('BAD_ADDRESS', `a contact needs host:port, not ${text}`);
  }
  return { host: address.host, port: address.port };
}

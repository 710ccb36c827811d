/**
 * What the Redis chat bus keeps in Redis, and the checks on what it reads
 * back: key names, stream ids ↔ message ids, and the field lists of stream
 * entries. Anything in Redis may have been written by someone else (another
 * program, an older version, a person with redis-cli): an entry that does
 * not parse is `undefined` here, and the bus skips, counts and logs it.
 */
import type { BusPresenceEvent, BusPrivateMessage, BusRoomMessage } from './bus.js';
import { MAX_NICK_LENGTH, MAX_ROOM_LENGTH, MAX_ROOMS_PER_CLIENT } from './messages.js';
import { MAX_CLUSTER_ENTRY_TEXT } from './limits.js';

/** Redis key names under one prefix (default `sockit:chat:`). */
export class RedisKeys {
  constructor(readonly prefix: string) {}
  room(room: string): string {
    return `${this.prefix}room:${room}`;
  }
  roster(room: string): string {
    return `${this.prefix}roster:${room}`;
  }
  nick(key: string): string {
    return `${this.prefix}nick:${key}`;
  }
  inbox(node: string): string {
    return `${this.prefix}inbox:${node}`;
  }
  alive(node: string): string {
    return `${this.prefix}alive:${node}`;
  }
  /** Set by the node that reaped `node`, read (and deleted) by `node` if it comes back. */
  reaped(node: string): string {
    return `${this.prefix}reaped:${node}`;
  }
  members(node: string): string {
    return `${this.prefix}members:${node}`;
  }
  get presence(): string {
    return `${this.prefix}presence`;
  }
  get nodes(): string {
    return `${this.prefix}nodes`;
  }
}

/** Sequence numbers per millisecond a stream id may carry and still map to a message id. */
const SEQ_SPACE = 4096;
const STREAM_ID_RE = /^(\d{1,15})-(\d{1,10})$/;

/** `ms-seq` → `ms * 4096 + seq` (bus.ts); undefined if it does not fit. */
export function messageIdOf(streamId: string): number | undefined {
  const m = STREAM_ID_RE.exec(streamId);
  if (m === null) return undefined;
  const ms = Number(m[1]);
  const seq = Number(m[2]);
  if (seq >= SEQ_SPACE) return undefined;
  const id = ms * SEQ_SPACE + seq;
  return Number.isSafeInteger(id) ? id : undefined;
}

/** A stream entry as XREAD / XRANGE return it: its id and flat field list. */
export type RawEntry = [id: string, fields: string[]];

function fieldsOf(flat: readonly string[]): Map<string, string> | undefined {
  if (flat.length % 2 !== 0 || flat.length > 32) return undefined;
  const map = new Map<string, string>();
  for (let i = 0; i < flat.length; i += 2) map.set(flat[i] as string, flat[i + 1] as string);
  return map;
}

const NICK_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const ROOM_RE = /^[a-z0-9_.-]+$/;
const NODE_RE = /^[0-9a-f]{1,32}$/;

function nickOk(s: string | undefined): s is string {
  return s !== undefined && s.length <= MAX_NICK_LENGTH && NICK_RE.test(s);
}
function roomOk(s: string | undefined): s is string {
  return s !== undefined && s.length <= MAX_ROOM_LENGTH && ROOM_RE.test(s);
}
function textOk(s: string | undefined): s is string {
  return s !== undefined && s.length > 0 && Buffer.byteLength(s) <= MAX_CLUSTER_ENTRY_TEXT;
}
function tsOf(s: string | undefined): number | undefined {
  const ts = Number(s);
  return s !== undefined && Number.isSafeInteger(ts) && ts >= 0 ? ts : undefined;
}
export function nodeOk(s: string | undefined): s is string {
  return s !== undefined && NODE_RE.test(s);
}

/** Fields of a room message entry (`XADD room:R … * from F text T ts N`). */
export function roomFields(m: Omit<BusRoomMessage, 'id'>): string[] {
  return ['from', m.from, 'text', m.text, 'ts', String(m.ts)];
}

export function parseRoomEntry(
  room: string,
  [streamId, flat]: RawEntry,
): BusRoomMessage | undefined {
  const id = messageIdOf(streamId);
  const f = fieldsOf(flat);
  if (id === undefined || f === undefined) return undefined;
  const from = f.get('from');
  const text = f.get('text');
  const ts = tsOf(f.get('ts'));
  if (!nickOk(from) || !textOk(text) || ts === undefined) return undefined;
  return { id, room, from, text, ts };
}

/** A node's inbox carries private messages, and wake-ups that make its reader look again. */
export type InboxEntry = { type: 'private'; message: BusPrivateMessage } | { type: 'wake' };

export function privateFields(m: Omit<BusPrivateMessage, 'id'>): string[] {
  return ['type', 'private', 'from', m.from, 'to', m.to, 'text', m.text, 'ts', String(m.ts)];
}

export const WAKE_FIELDS = ['type', 'wake'];

export function parseInboxEntry([streamId, flat]: RawEntry): InboxEntry | undefined {
  const f = fieldsOf(flat);
  if (f === undefined) return undefined;
  if (f.get('type') === 'wake') return { type: 'wake' };
  const id = messageIdOf(streamId);
  const from = f.get('from');
  const to = f.get('to');
  const text = f.get('text');
  const ts = tsOf(f.get('ts'));
  if (f.get('type') !== 'private' || id === undefined || ts === undefined) return undefined;
  if (!nickOk(from) || !nickOk(to) || !textOk(text)) return undefined;
  return { type: 'private', message: { id, from, to, text, ts } };
}

/** Presence news and the node it came from (a node skips its own). */
export function presenceFields(node: string, e: BusPresenceEvent): string[] {
  const base = ['node', node, 'type', e.type, 'ts', String(e.ts)];
  if (e.type === 'joined') return [...base, 'room', e.room, 'nick', e.nick];
  if (e.type === 'left') return [...base, 'room', e.room, 'nick', e.nick, 'reason', e.reason];
  return [...base, 'old', e.old, 'nick', e.nick, 'rooms', e.rooms.join(',')];
}

export function parsePresenceEntry([, flat]: RawEntry):
  { node: string; event: BusPresenceEvent } | undefined {
  const f = fieldsOf(flat);
  if (f === undefined) return undefined;
  const node = f.get('node');
  const type = f.get('type');
  const ts = tsOf(f.get('ts'));
  const nick = f.get('nick');
  if (!nodeOk(node) || ts === undefined || !nickOk(nick)) return undefined;
  if (type === 'joined' || type === 'left') {
    const room = f.get('room');
    if (!roomOk(room)) return undefined;
    if (type === 'joined') return { node, event: { type, room, nick, ts } };
    const reason = f.get('reason') ?? '';
    if (reason.length > 64) return undefined;
    return { node, event: { type, room, nick, reason, ts } };
  }
  if (type !== 'nick') return undefined;
  const old = f.get('old');
  const rooms = (f.get('rooms') ?? '').split(',').filter((r) => r !== '');
  if (!nickOk(old) || rooms.length > MAX_ROOMS_PER_CLIENT || !rooms.every(roomOk)) return undefined;
  return { node, event: { type, old, nick, rooms, ts } };
}

/** A nick lease's value: `<node>:<token>:<spelling>`; the whole value is what release checks. */
export function leaseValue(node: string, token: string, nick: string): string {
  return `${node}:${token}:${nick}`;
}

export function parseLease(value: string | null): { node: string; nick: string } | undefined {
  if (value === null) return undefined;
  const [node, token, nick, ...rest] = value.split(':');
  if (!nodeOk(node) || token === undefined || !nickOk(nick) || rest.length > 0) return undefined;
  return { node, nick };
}

/** A member of a node's members set: `room nick`. */
export function memberValue(room: string, nick: string): string {
  return `${room} ${nick}`;
}

export function parseMember(value: string): { room: string; nick: string } | undefined {
  const [room, nick, ...rest] = value.split(' ');
  return roomOk(room) && nickOk(nick) && rest.length === 0 ? { room, nick } : undefined;
}

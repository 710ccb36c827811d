import * as v from 'valibot';
import { ServiceError } from '../../errors.js';
import { describeIssue } from '../../protocol/schema-issue.js';
import { escapeText } from '../../protocol/terminal-text.js';
import { CHAT_PORT } from '../../ports.js';

/** Default port (src/ports.ts, SPEC §2). */
export { CHAT_PORT };

/** Chat text is shown with the shared terminal escaping (protocol/terminal-text.ts). */
export { escapeText };

/** The room a text client starts in. */
export const DEFAULT_ROOM = 'lobby';

/** Longest nickname and room name (characters, ASCII). */
export const MAX_NICK_LENGTH = 32;
export const MAX_ROOM_LENGTH = 32;

/** Longest message text (UTF-8 bytes); longer is refused with MESSAGE_TOO_LONG. */
export const DEFAULT_MAX_TEXT = 4 * 1024;

/** Longest text line from an `nc` user (bytes); longer closes the connection (LINE_TOO_LONG). */
export const DEFAULT_MAX_CHAT_LINE = 8 * 1024;

/** Rooms one client may be in at once. */
export const MAX_ROOMS_PER_CLIENT = 16;

/**
 * Bytes queued for one chat client before it is cut off as SLOW_CONSUMER.
 * Far below the generic bound: chat messages are small, and a broadcast
 * service must not hold much for a client that does not read.
 */
export const DEFAULT_CHAT_MAX_QUEUE = 1024 * 1024;

/** Nicknames: a letter or `_`, then letters, digits, `_ - .` (case-insensitive, unique). */
const NICK_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
/** Rooms: letters, digits, `_ - .`; an IRC-style leading `#` is accepted and dropped. */
const ROOM_RE = /^[A-Za-z0-9_.-]+$/;

/** Checks a nickname; returns it unchanged (its case is kept for display). */
export function checkNick(nick: string): string {
  if (nick.length === 0 || nick.length > MAX_NICK_LENGTH || !NICK_RE.test(nick)) {
    throw new ServiceError(
      'BAD_NICK',
      `bad nickname "${escapeText(nick.slice(0, MAX_NICK_LENGTH + 1))}": 1–${MAX_NICK_LENGTH} characters, a letter or _ then letters, digits, _ - .`,
    );
  }
  return nick;
}

/** Checks a room name and returns its canonical form: lower case, without a leading `#`. */
export function canonicalRoom(room: string): string {
  const name = room.startsWith('#') ? room.slice(1) : room;
  if (name.length === 0 || name.length > MAX_ROOM_LENGTH || !ROOM_RE.test(name)) {
    throw new ServiceError(
      'BAD_ROOM',
      `bad room "${escapeText(room.slice(0, MAX_ROOM_LENGTH + 2))}": 1–${MAX_ROOM_LENGTH} letters, digits, _ - .`,
    );
  }
  return name.toLowerCase();
}

/** The key nicknames are unique by (case-insensitive). */
export function nickKey(nick: string): string {
  return nick.toLowerCase();
}

/** Checks the size of a message's text (UTF-8 bytes). */
export function checkText(text: string, maxText = DEFAULT_MAX_TEXT): string {
  const bytes = Buffer.byteLength(text);
  if (bytes > maxText) {
    throw new ServiceError(
      'MESSAGE_TOO_LONG',
      `message of ${bytes} bytes exceeds the limit of ${maxText} bytes`,
    );
  }
  if (text.length === 0) throw new ServiceError('BAD_REQUEST', 'empty message');
  return text;
}

// ---------------------------------------------------------------------------
// Requests (client → server), one envelope each. `ref` is echoed in the reply
// or error a request causes, so a client can match them.

const ref = v.optional(
  v.union([v.pipe(v.string(), v.maxLength(64)), v.pipe(v.number(), v.safeInteger())]),
);
const text = v.string();
const nick = v.pipe(v.string(), v.maxLength(256));
const room = v.pipe(v.string(), v.maxLength(256));
/** A ping's id: a string of up to 64 characters, or a finite number. */
const pingId = v.optional(
  v.union([v.pipe(v.string(), v.maxLength(64)), v.pipe(v.number(), v.finite())]),
);

export const chatRequestSchema = v.variant('type', [
  v.object({ type: v.literal('join'), room, nick: v.optional(nick), ref }),
  v.object({ type: v.literal('say'), room: v.optional(room), text, ref }),
  v.object({ type: v.literal('msg'), to: nick, text, ref }),
  v.object({ type: v.literal('who'), room: v.optional(room), ref }),
  v.object({ type: v.literal('leave'), room: v.optional(room), ref }),
  v.object({ type: v.literal('nick'), nick, ref }),
  v.object({ type: v.literal('ping'), id: pingId }),
  v.object({ type: v.literal('pong'), id: pingId }),
  v.object({ type: v.literal('quit'), text: v.optional(text), ref }),
]);

/** Everything an envelope client may send the chat broker (docs/CHAT.md). */
export type ChatRequest = v.InferOutput<typeof chatRequestSchema>;

/** Validates a decoded envelope header as a chat request (BAD_REQUEST otherwise). */
export function parseChatRequest(header: Readonly<Record<string, unknown>>): ChatRequest {
  const result = v.safeParse(chatRequestSchema, header);
  if (result.success) return result.output;
  const type = typeof header.type === 'string' ? escapeText(header.type.slice(0, 64)) : '?';
  throw new ServiceError(
    'BAD_REQUEST',
    `bad ${type} request: ${describeIssue(result.issues[0], 'request')}`,
  );
}

// ---------------------------------------------------------------------------
// Events (server → client).

/** A message said in a room, or sent privately to you. */
export interface ChatMessageEvent {
  type: 'message';
  /** Server-wide message number. */
  id: number;
  from: string;
  /** The room, for a room message. */
  room?: string;
  /** The recipient, for a private message. */
  to?: string;
  text: string;
  /** Server time, ms since 1970. */
  ts: number;
  /** Set on the room's earlier messages a client is sent when it joins (history on join). */
  history?: true;
}

/** Someone (maybe you) joined a room. */
export interface ChatJoinedEvent {
  type: 'joined';
  room: string;
  nick: string;
  ts: number;
}

/** Someone left a room (or was disconnected). */
export interface ChatLeftEvent {
  type: 'left';
  room: string;
  nick: string;
  /** `left`, `quit`, or the error code that cut the client off. */
  reason: string;
  ts: number;
}

/** Who is in a room (the answer to `who`). */
export interface ChatRosterEvent {
  type: 'roster';
  room: string;
  nicks: string[];
  ref?: string | number;
}

/** Your nick was accepted (or changed). */
export interface ChatNickEvent {
  type: 'nick';
  old: string;
  nick: string;
  ts: number;
  ref?: string | number;
}

/** A request was refused: a stable `code` (docs/ERRORS.md) and a message. */
export interface ChatErrorEvent {
  type: 'error';
  code: string;
  message: string;
  ref?: string | number;
}

/** Sent to an envelope client once, before anything else: who the server says it is. */
export interface ChatWelcomeEvent {
  type: 'welcome';
  nick: string;
  version: 1;
}

/** The broker's heartbeat: answer with the same id or be dropped. */
export interface ChatPingEvent {
  type: 'ping' | 'pong';
  id?: string | number;
}

/** Everything the chat broker sends an envelope client. */
export type ChatEvent =
  | ChatMessageEvent
  | ChatJoinedEvent
  | ChatLeftEvent
  | ChatRosterEvent
  | ChatNickEvent
  | ChatErrorEvent
  | ChatWelcomeEvent
  | ChatPingEvent;

// ---------------------------------------------------------------------------
// Text mode (nc, telnet): IRC-like lines.

/** What one text line asks for. */
export type TextCommand =
  | { kind: 'say'; text: string }
  | { kind: 'nick'; nick: string }
  | { kind: 'join'; room: string }
  | { kind: 'part'; room: string | undefined }
  | { kind: 'msg'; to: string; text: string }
  | { kind: 'who'; room: string | undefined }
  | { kind: 'history'; room: string | undefined }
  | { kind: 'quit'; text: string | undefined }
  | { kind: 'help' }
  | { kind: 'none' };

export const TEXT_HELP = [
  'commands:',
  '  /nick NAME        change your nickname',
  '  /join ROOM        join a room (it becomes your current room)',
  '  /part [ROOM]      leave a room (default: the current one)',
  '  /msg NICK TEXT    private message',
  '  /who [ROOM]       who is in a room',
  '  /history [ROOM]   the last messages of a room',
  '  /quit [TEXT]      leave',
  '  /help             this help',
  '  anything else is said to your current room; start a line with // to say "/…"',
];

function usage(command: string, args: string): ServiceError {
  return new ServiceError('BAD_REQUEST', `usage: /${command} ${args}`);
}

/**
 * Parses one text line (without its line end). Throws only ServiceError
 * (BAD_REQUEST for an unknown command or missing arguments); names and sizes
 * are checked by the server.
 */
export function parseTextLine(line: string): TextCommand {
  if (line.trim().length === 0) return { kind: 'none' };
  if (!line.startsWith('/')) return { kind: 'say', text: line };
  if (line.startsWith('//')) return { kind: 'say', text: line.slice(1) };
  const match = /^\/(\S*)\s*(.*)$/s.exec(line);
  const command = (match?.[1] ?? '').toLowerCase();
  const rest = (match?.[2] ?? '').trim();
  const words = rest.length > 0 ? rest.split(/\s+/) : [];
  switch (command) {
    case 'nick':
      if (words.length !== 1) throw usage('nick', 'NAME');
      return { kind: 'nick', nick: words[0] as string };
    case 'join':
      if (words.length !== 1) throw usage('join', 'ROOM');
      return { kind: 'join', room: words[0] as string };
    case 'part':
    case 'leave':
      if (words.length > 1) throw usage('part', '[ROOM]');
      return { kind: 'part', room: words[0] };
    case 'msg':
    case 'query': {
      const m = /^(\S+)\s+(.*)$/s.exec(rest);
      if (!m || (m[2] ?? '').length === 0) throw usage('msg', 'NICK TEXT');
      return { kind: 'msg', to: m[1] as string, text: m[2] as string };
    }
    case 'who':
    case 'names':
      if (words.length > 1) throw usage('who', '[ROOM]');
      return { kind: 'who', room: words[0] };
    case 'history':
      if (words.length > 1) throw usage('history', '[ROOM]');
      return { kind: 'history', room: words[0] };
    case 'quit':
    case 'exit':
      return { kind: 'quit', text: rest.length > 0 ? rest : undefined };
    case 'help':
    case '?':
      return { kind: 'help' };
    default:
      throw new ServiceError(
        'BAD_REQUEST',
        `unknown command /${escapeText(command.slice(0, 32))} (try /help)`,
      );
  }
}

/** How an event reads for a text client: one line, peer strings escaped, no colour. */
export function formatTextEvent(event: ChatEvent, self?: string): string | undefined {
  switch (event.type) {
    case 'message':
      if (event.to !== undefined) {
        return self !== undefined && nickKey(event.from) === nickKey(self)
          ? `-> *${event.to}* ${escapeText(event.text)}`
          : `*${event.from}* ${escapeText(event.text)}`;
      }
      return `#${event.room ?? '?'} <${event.from}> ${escapeText(event.text)}`;
    case 'joined':
      return `* ${event.nick} joined #${event.room}`;
    case 'left':
      return `* ${event.nick} left #${event.room} (${event.reason})`;
    case 'roster':
      return `* #${event.room}: ${event.nicks.length > 0 ? event.nicks.join(' ') : '(nobody)'}`;
    case 'nick':
      return `* ${event.old} is now known as ${event.nick}`;
    case 'error':
      return `error ${event.code}: ${escapeText(event.message)}`;
    case 'welcome':
      return `* welcome, ${event.nick}`;
    case 'ping':
    case 'pong':
      return undefined;
  }
}

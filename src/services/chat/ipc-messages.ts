/**
 * The messages between a worker's `IpcChatBus` and the primary's `ChatHub`
 * (`sockit serve --workers`), checked with valibot on arrival at both ends:
 * a worker is a separate process, and a message that does not parse is
 * dropped (counted, logged), never acted on.
 *
 * Worker → hub: calls (with an `id`, answered by a `reply` or a `fail`) and
 * notes (no answer). Hub → worker: answers, and deliveries (room messages,
 * private messages, presence). Every message carries `ch: 'chat'`, so other
 * IPC on the same channel (the CLI's own `ready`/`stop`) passes by.
 */
import * as v from 'valibot';
import { ERROR_CODES } from '../../errors.js';
import type { BusPrivateMessage, BusRoomMessage } from './bus.js';
import { IPC_MAX_HISTORY, IPC_MAX_STRING } from './limits.js';
import { MAX_NICK_LENGTH, MAX_ROOMS_PER_CLIENT } from './messages.js';

/** The channel tag of chat IPC messages. */
export const CHAT_CHANNEL = 'chat';

const str = v.pipe(v.string(), v.maxLength(IPC_MAX_STRING));
/** Nicks and rooms arrive checked by the worker's broker; this only bounds them. */
const name = v.pipe(v.string(), v.minLength(1), v.maxLength(4 * MAX_NICK_LENGTH));
const ts = v.pipe(v.number(), v.finite());
const id = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const ch = v.literal(CHAT_CHANNEL);
const rooms = v.pipe(v.array(name), v.maxLength(MAX_ROOMS_PER_CLIENT));

const roomMessage = v.object({ id, room: name, from: name, text: str, ts });
const privateMessage = v.object({ id, from: name, to: name, text: str, ts });

// ---- worker → hub -----------------------------------------------------------

export const workerMessageSchema = v.variant('kind', [
  v.object({
    ch,
    kind: v.literal('publish'),
    id,
    message: v.object({ room: name, from: name, text: str, ts }),
  }),
  v.object({
    ch,
    kind: v.literal('private'),
    id,
    message: v.object({ from: name, to: name, text: str, ts }),
  }),
  v.object({ ch, kind: v.literal('acquire'), id, nick: name }),
  v.object({ ch, kind: v.literal('join'), id, room: name, nick: name, ts }),
  v.object({ ch, kind: v.literal('roster'), id, room: name }),
  v.object({
    ch,
    kind: v.literal('history'),
    id,
    room: name,
    limit: v.pipe(v.number(), v.safeInteger()),
  }),
  v.object({ ch, kind: v.literal('release'), nick: name }),
  v.object({ ch, kind: v.literal('leave'), room: name, nick: name, reason: name, ts }),
  v.object({ ch, kind: v.literal('renamed'), old: name, nick: name, rooms, ts }),
]);

export type WorkerMessage = v.InferOutput<typeof workerMessageSchema>;
/** The worker → hub messages that are calls (they carry an `id` and get an answer). */
export type WorkerCall = Extract<WorkerMessage, { id: number }>;
/** What a worker sends, before the channel tag is added. */
export type WorkerMessageBody = DistributiveOmit<WorkerMessage, 'ch'>;
export type WorkerCallBody = DistributiveOmit<WorkerCall, 'ch'>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

// ---- hub → worker -----------------------------------------------------------

const presenceEvent = v.variant('type', [
  v.object({ type: v.literal('joined'), room: name, nick: name, ts }),
  v.object({ type: v.literal('left'), room: name, nick: name, reason: name, ts }),
  v.object({ type: v.literal('nick'), old: name, nick: name, rooms, ts }),
]);

export const hubMessageSchema = v.variant('kind', [
  v.object({ ch, kind: v.literal('reply'), id, value: v.unknown() }),
  v.object({ ch, kind: v.literal('fail'), id, code: v.picklist(ERROR_CODES), message: str }),
  v.object({ ch, kind: v.literal('message'), message: roomMessage }),
  v.object({ ch, kind: v.literal('private'), message: privateMessage }),
  v.object({ ch, kind: v.literal('presence'), event: presenceEvent }),
]);

export type HubMessage = v.InferOutput<typeof hubMessageSchema>;
export type HubMessageBody = DistributiveOmit<HubMessage, 'ch'>;

/** The answer each call expects, checked before the call resolves with it. */
export const replySchemas = {
  publish: id,
  private: privateMessage,
  acquire: v.boolean(),
  join: v.null(),
  roster: v.pipe(v.array(name), v.maxLength(1_000_000)),
  history: v.pipe(v.array(roomMessage), v.maxLength(IPC_MAX_HISTORY)),
} satisfies Record<WorkerCall['kind'], v.GenericSchema>;

/** What each call resolves with. */
export interface ReplyValues {
  publish: number;
  private: BusPrivateMessage;
  acquire: boolean;
  join: null;
  roster: string[];
  history: BusRoomMessage[];
}

/** Parses one worker → hub message; undefined if it is not one. */
export function parseWorkerMessage(raw: unknown): WorkerMessage | undefined {
  const r = v.safeParse(workerMessageSchema, raw);
  return r.success ? r.output : undefined;
}

/** Parses one hub → worker message; undefined if it is not one. */
export function parseHubMessage(raw: unknown): HubMessage | undefined {
  const r = v.safeParse(hubMessageSchema, raw);
  return r.success ? r.output : undefined;
}

/** Whether an IPC message is on the chat channel at all (others are not ours to judge). */
export function isChatMessage(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && (raw as { ch?: unknown }).ch === CHAT_CHANNEL;
}

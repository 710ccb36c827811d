/**
 * The in-process chat bus: one node, today's behaviour. Ids count from 1
 * (rooms and private messages share them); delivery happens synchronously
 * inside `publish`/`sendPrivate`, so a room message costs no promise and no
 * extra turn; history is a `RoomHistory` (last N per room, a global memory
 * bound). Presence events never come back (there is no other node); the
 * roster is kept here in join order.
 */
import { ServiceError } from '../../errors.js';
import type { BusPrivateMessage, BusRoomMessage, ChatBus, ChatBusHandlers } from './bus.js';
import { RoomHistory } from './history.js';
import { DEFAULT_CHAT_HISTORY, DEFAULT_CHAT_HISTORY_BYTES } from './limits.js';
import { escapeText, nickKey } from './messages.js';

/** Options of {@link LocalChatBus}: the history kept per room. */
export interface LocalChatBusOptions {
  /** Messages kept per room for history on join. @default 100 */
  historyLimit?: number;
  /** Estimated memory of all rooms' history (bytes). @default 8 MiB */
  historyBytes?: number;
}

/** The in-process {@link ChatBus}: one node's rooms, nicks and history in memory (the default). */
export class LocalChatBus implements ChatBus {
  private handlers: ChatBusHandlers | undefined;
  private nextId = 1;
  /** Held nicks: key (lower case) → spelling. */
  private readonly nicks = new Map<string, string>();
  private readonly rosters = new Map<string, string[]>();
  private readonly rings: RoomHistory;

  constructor(options: LocalChatBusOptions = {}) {
    this.rings = new RoomHistory(
      options.historyLimit ?? DEFAULT_CHAT_HISTORY,
      options.historyBytes ?? DEFAULT_CHAT_HISTORY_BYTES,
    );
  }

  start(handlers: ChatBusHandlers): void {
    this.handlers = handlers;
  }

  close(): Promise<void> {
    this.handlers = undefined;
    return Promise.resolve();
  }

  publish(message: Omit<BusRoomMessage, 'id'>): number {
    const stored: BusRoomMessage = {
      id: this.nextId++,
      room: message.room,
      from: message.from,
      text: message.text,
      ts: message.ts,
    };
    this.rings.add(stored);
    this.handlers?.message(stored);
    return stored.id;
  }

  sendPrivate(message: Omit<BusPrivateMessage, 'id'>): BusPrivateMessage {
    const to = this.nicks.get(nickKey(message.to));
    if (to === undefined) {
      throw new ServiceError(
        'NO_SUCH_NICK',
        `nobody is called "${escapeText(message.to.slice(0, 40))}"`,
      );
    }
    const sent: BusPrivateMessage = {
      id: this.nextId++,
      from: message.from,
      to,
      text: message.text,
      ts: message.ts,
    };
    this.handlers?.private(sent);
    return sent;
  }

  /** One node holds every nick: the broker has checked its own sessions already. */
  acquireNick(nick: string): boolean {
    this.nicks.set(nickKey(nick), nick);
    return true;
  }

  releaseNick(nick: string): void {
    this.nicks.delete(nickKey(nick));
  }

  join(room: string, nick: string): void {
    const roster = this.rosters.get(room);
    if (roster === undefined) this.rosters.set(room, [nick]);
    else if (!roster.includes(nick)) roster.push(nick);
  }

  leave(room: string, nick: string): void {
    const roster = this.rosters.get(room);
    if (roster === undefined) return;
    const at = roster.indexOf(nick);
    if (at >= 0) roster.splice(at, 1);
    if (roster.length === 0) this.rosters.delete(room);
  }

  renamed(old: string, nick: string, rooms: readonly string[]): void {
    for (const room of rooms) {
      const roster = this.rosters.get(room);
      const at = roster?.indexOf(old) ?? -1;
      if (roster !== undefined && at >= 0) roster[at] = nick;
    }
  }

  roster(room: string): string[] {
    return [...(this.rosters.get(room) ?? [])];
  }

  history(room: string, limit: number): BusRoomMessage[] {
    return this.rings.last(room, limit);
  }
}

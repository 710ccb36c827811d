/**
 * The room broker: this node's rooms and nicks, and what each request does
 * to them. What crosses nodes (message order and ids, nick leases, the
 * roster, history) goes through the `ChatBus` (bus.ts); what the bus
 * delivers reaches the local members through delivery.ts.
 *
 * A request returns a `Step`: nothing when it is done (the in-process bus
 * answers at once), or a promise when it waits for a remote bus; the
 * dispatcher holds that client's next requests until it settles, so each
 * client's requests still take effect in order.
 */
import { LimitError, ServiceError, type SockitError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { isSettled, type BusPrivateMessage, type ChatBus, type MaybePromise } from './bus.js';
import {
  DEFAULT_ROOM,
  MAX_ROOMS_PER_CLIENT,
  canonicalRoom,
  checkNick,
  checkText,
  formatTextEvent,
  nickKey,
  type ChatEvent,
} from './messages.js';
import { Outbound, Outgoing, noticeFor } from './outbound.js';
import type { Session } from './session.js';

/** What a request leaves to do: nothing, or a remote bus's answer to wait for. */
export type Step = void | Promise<void>;

/** Runs `next` on a bus answer: at once if it is there, else when it comes. */
function then<T>(value: MaybePromise<T>, next: (value: T) => Step): Step {
  return isSettled(value) ? next(value) : value.then(next);
}

/** Counters of a {@link ChatServer}: clients, rooms, messages, cut-offs. */
export interface ChatStats {
  /** Room and private messages relayed. */
  messages: number;
  /** Clients cut off because they did not read. */
  slowConsumers: number;
  /** Clients dropped because they did not answer a ping. */
  pingTimeouts: number;
  /** The most bytes ever queued for one client (bounded by maxQueue). */
  peakQueued: number;
}

export interface BrokerOptions {
  maxText: number;
  maxQueue: number;
  noticeGraceMs: number;
  historyLimit: number;
  now: () => number;
  log: Logger;
}

export class ChatBroker {
  readonly byNick = new Map<string, Session>();
  readonly rooms = new Map<string, Set<Session>>();
  readonly outbound: Outbound;
  private nextGuest = 1;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(
    private readonly bus: ChatBus,
    readonly stats: ChatStats,
    private readonly options: BrokerOptions,
  ) {
    this.now = options.now;
    this.log = options.log;
    this.outbound = new Outbound(options.maxQueue, stats, options.log, (session, error) => {
      this.cutOff(session, error);
    });
  }

  // ---- what clients ask for --------------------------------------------

  /** The client's format is known: it gets a guest nick (and a text client the lobby). */
  hello(session: Session): Step {
    let nick: string;
    do nick = `guest${this.nextGuest++}`;
    while (this.byNick.has(nick));
    return then(this.bus.acquireNick(nick), (ok) => {
      if (!ok) return this.hello(session); // another node has it: the next number
      if (session.gone) {
        this.bus.releaseNick(nick);
        return;
      }
      session.nick = nick;
      this.byNick.set(nick, session);
      this.log.info({ event: 'hello', conn: session.conn.id, nick, format: session.format });
      if (session.format !== 'text') {
        this.outbound.deliver(session, new Outgoing({ type: 'welcome', nick, version: 1 }));
        return;
      }
      this.outbound.sendLine(
        session,
        `* welcome, ${nick}: you are in #${DEFAULT_ROOM}; /help for commands`,
      );
      return this.join(session, DEFAULT_ROOM, undefined, undefined);
    });
  }

  join(
    session: Session,
    roomName: string,
    nick: string | undefined,
    ref: string | number | undefined,
  ): Step {
    const room = canonicalRoom(roomName);
    if (nick !== undefined && nick !== session.nick) {
      return then(this.rename(session, nick, ref), () => this.enter(session, room, ref));
    }
    return this.enter(session, room, ref);
  }

  /**
   * Joins a room (joining one it is in just makes it current and sends the
   * roster again). An envelope client then gets the room's history, after
   * its roster, each message marked `history: true`.
   */
  private enter(session: Session, room: string, ref: string | number | undefined): Step {
    if (session.gone) return;
    if (session.rooms.has(room)) {
      session.current = room;
      return this.who(session, room, ref);
    }
    if (session.rooms.size >= MAX_ROOMS_PER_CLIENT) {
      throw new ServiceError('NOT_ALLOWED', `at most ${MAX_ROOMS_PER_CLIENT} rooms at once`);
    }
    const nick = session.nick;
    const ts = this.now();
    return then(this.bus.join(room, nick, ts), () => {
      if (session.gone) {
        this.bus.leave(room, nick, 'quit', ts); // it left while the bus was answering
        return;
      }
      let members = this.rooms.get(room);
      if (!members) {
        members = new Set();
        this.rooms.set(room, members);
      }
      members.add(session);
      session.rooms.add(room);
      session.current = room;
      this.log.info({ event: 'join', conn: session.conn.id, nick, room });
      this.outbound.broadcast(members, new Outgoing({ type: 'joined', room, nick, ts }));
      return then(this.who(session, room, ref), () =>
        session.format === 'text' ? undefined : this.sendHistory(session, room),
      );
    });
  }

  /** The room's last messages, oldest first, each marked as history. */
  sendHistory(session: Session, room: string): Step {
    return then(this.bus.history(room, this.options.historyLimit), (messages) => {
      for (const m of messages) {
        const event: ChatEvent = {
          type: 'message',
          id: m.id,
          from: m.from,
          room: m.room,
          text: m.text,
          ts: m.ts,
          history: true,
        };
        this.outbound.deliver(session, new Outgoing(event));
      }
    });
  }

  /** `/history [ROOM]` for a text client: the lines between a header and a footer. */
  textHistory(session: Session, roomName: string | undefined): Step {
    const room = this.roomOf(session, roomName);
    return then(this.bus.history(room, this.options.historyLimit), (messages) => {
      this.outbound.sendLine(session, `* #${room}: the last ${messages.length} messages`);
      for (const m of messages) {
        const line = formatTextEvent({ type: 'message', ...m });
        if (line !== undefined) this.outbound.sendLine(session, line);
      }
      this.outbound.sendLine(session, `* end of #${room} history`);
    });
  }

  /**
   * A room message. Members are written to when the bus delivers it, in the
   * bus's order (delivery.ts). A text client is not sent its own line (it
   * sees what it typed) unless `receipt`: a program that sent it without a
   * line end and waits for an answer gets the line back.
   */
  say(session: Session, room: string, text: string, receipt = false): Step {
    checkText(text, this.options.maxText);
    const members = this.rooms.get(room);
    if (!members?.has(session)) throw new ServiceError('NOT_IN_ROOM', `you are not in #${room}`);
    const from = session.nick;
    const ts = this.now();
    const id = this.bus.publish({ room, from, text, ts });
    if (!receipt || session.format !== 'text')
      return isSettled(id) ? undefined : id.then(() => undefined);
    return then(id, (assigned) => {
      const event: ChatEvent = { type: 'message', id: assigned, from, room, text, ts };
      this.outbound.deliver(session, new Outgoing(event));
    });
  }

  privateMessage(session: Session, to: string, text: string): Step {
    checkText(text, this.options.maxText);
    const from = session.nick;
    return then(this.bus.sendPrivate({ from, to, text, ts: this.now() }), (sent) => {
      this.stats.messages++;
      if (nickKey(sent.to) === nickKey(from)) return; // to oneself: delivered once
      const event = privateEvent(sent);
      if (session.format === 'text') {
        const line = formatTextEvent(event, from);
        if (line !== undefined) this.outbound.sendLine(session, line);
      } else this.outbound.deliver(session, new Outgoing(event));
    });
  }

  who(session: Session, roomName: string | undefined, ref: string | number | undefined): Step {
    const room = this.roomOf(session, roomName);
    return then(this.bus.roster(room), (nicks) => {
      this.outbound.deliver(
        session,
        new Outgoing(
          ref !== undefined
            ? { type: 'roster', room, nicks, ref }
            : { type: 'roster', room, nicks },
        ),
      );
    });
  }

  leave(session: Session, roomName: string | undefined): void {
    const room = roomName !== undefined ? canonicalRoom(roomName) : session.current;
    if (room === undefined || !session.rooms.has(room)) {
      throw new ServiceError(
        'NOT_IN_ROOM',
        room === undefined ? 'you are in no room' : `you are not in #${room}`,
      );
    }
    this.removeFromRoom(session, room, 'left', true);
  }

  rename(session: Session, nick: string, ref: string | number | undefined): Step {
    checkNick(nick);
    if (nick === session.nick) return;
    const key = nickKey(nick);
    const taken = (): ServiceError => new ServiceError('NICK_TAKEN', `nickname "${nick}" is taken`);
    const holder = this.byNick.get(key);
    if (holder && holder !== session) throw taken();
    return then(this.bus.acquireNick(nick), (ok) => {
      if (!ok) throw taken();
      const now = this.byNick.get(key); // another local client may have won it meanwhile
      if (now && now !== session) throw taken();
      const old = session.nick;
      if (nickKey(old) !== key) {
        if (session.gone) {
          this.bus.releaseNick(nick);
          return;
        }
        this.byNick.delete(nickKey(old));
        this.bus.releaseNick(old);
      }
      session.nick = nick;
      this.byNick.set(key, session);
      this.log.info({ event: 'nick', conn: session.conn.id, old, nick });
      const ts = this.now();
      const event: ChatEvent =
        ref !== undefined ? { type: 'nick', old, nick, ts, ref } : { type: 'nick', old, nick, ts };
      const audience = new Set<Session>([session]);
      for (const room of session.rooms) for (const s of this.rooms.get(room) ?? []) audience.add(s);
      this.outbound.broadcast(audience, new Outgoing(event));
      this.bus.renamed(old, nick, [...session.rooms], ts);
    });
  }

  quit(session: Session): void {
    this.depart(session, 'quit');
    if (session.format === 'text') this.outbound.queue(session, Buffer.from('* bye\n'));
    this.outbound.flush(session);
    session.conn.end();
  }

  /** The peer finished sending: it leaves, and what it is owed goes first. */
  ended(session: Session): void {
    this.depart(session, 'quit');
    this.outbound.flush(session);
    session.conn.end();
  }

  sendError(session: Session, error: ServiceError, ref: string | number | undefined): void {
    this.outbound.deliver(
      session,
      new Outgoing(
        ref !== undefined
          ? { type: 'error', code: error.code, message: error.message, ref }
          : { type: 'error', code: error.code, message: error.message },
      ),
    );
  }

  /** Takes the client out of every room (telling the others) and frees its nick. Once. */
  depart(session: Session, reason: string): void {
    session.gone = true;
    session.queue.length = 0;
    if (session.departed) return;
    session.departed = true;
    for (const room of [...session.rooms]) this.removeFromRoom(session, room, reason, false);
    if (session.nick !== '' && this.byNick.get(nickKey(session.nick)) === session) {
      this.byNick.delete(nickKey(session.nick));
      this.bus.releaseNick(session.nick);
    }
    this.log.info({ event: 'bye', conn: session.conn.id, nick: session.nick, reason });
  }

  /**
   * Ends a client for `error`: it leaves its rooms at once (the others are
   * told why), its notice goes after what is already queued, and the
   * transport is destroyed if it has not read that far within the grace period.
   */
  cutOff(session: Session, error: SockitError): void {
    if (session.gone) return;
    this.depart(session, error.code);
    this.outbound.flush(session); // the notice goes after what is already queued
    const conn = session.conn;
    conn.end(noticeFor(session, error));
    session.graceTimer = setTimeout(() => {
      conn.destroy(error);
    }, this.options.noticeGraceMs);
    session.graceTimer.unref();
  }

  /** A framed client that did not answer its ping. */
  pingTimeout(session: Session, timeoutMs: number): void {
    this.stats.pingTimeouts++;
    this.log.info({ event: 'ping_timeout', conn: session.conn.id, nick: session.nick });
    this.cutOff(
      session,
      new LimitError('PING_TIMEOUT', `no answer to a ping within ${timeoutMs} ms`),
    );
  }

  private roomOf(session: Session, roomName: string | undefined): string {
    const room = roomName !== undefined ? canonicalRoom(roomName) : session.current;
    if (room === undefined) throw new ServiceError('NOT_IN_ROOM', 'you are in no room');
    return room;
  }

  private removeFromRoom(session: Session, room: string, reason: string, tellSelf: boolean): void {
    const members = this.rooms.get(room);
    session.rooms.delete(room);
    if (session.current === room) session.current = [...session.rooms].at(-1);
    if (!members) return;
    members.delete(session);
    if (members.size === 0) this.rooms.delete(room);
    const ts = this.now();
    this.bus.leave(room, session.nick, reason, ts);
    this.log.info({ event: 'leave', conn: session.conn.id, nick: session.nick, room, reason });
    const out = new Outgoing({ type: 'left', room, nick: session.nick, reason, ts });
    this.outbound.broadcast(members, out);
    if (tellSelf) this.outbound.deliver(session, out);
  }
}

export function privateEvent(message: BusPrivateMessage): ChatEvent {
  return {
    type: 'message',
    id: message.id,
    from: message.from,
    to: message.to,
    text: message.text,
    ts: message.ts,
  };
}

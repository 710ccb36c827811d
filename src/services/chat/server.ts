import {
  LimitError,
  ProtocolError,
  ServiceError,
  SockitError,
  fromSystemError,
} from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import type { ByteOrder } from '../../protocol/byte-order.js';
import {
  EnvelopeDecoder,
  encodeEnvelopeHeader,
  type EnvelopeHeader,
} from '../../protocol/envelope.js';
import { detectFraming, type FramingMode, type ResolvedFraming } from '../../protocol/framing.js';
import { LineDecoder } from '../../protocol/line-decoder.js';
import { encodeTextNotice } from '../../protocol/text-notice.js';
import { formatAddress, type Address } from '../../transport/address.js';
import type { CloseInfo, Connection } from '../../transport/connection.js';
import { TcpServer, type TcpServerOptions } from '../../transport/tcp-server.js';
import {
  DEFAULT_CHAT_MAX_QUEUE,
  DEFAULT_MAX_CHAT_LINE,
  DEFAULT_MAX_TEXT,
  DEFAULT_ROOM,
  MAX_ROOMS_PER_CLIENT,
  TEXT_HELP,
  canonicalRoom,
  checkNick,
  checkText,
  escapeText,
  formatTextEvent,
  nickKey,
  parseChatRequest,
  parseTextLine,
  type ChatEvent,
  type ChatRequest,
  type TextCommand,
} from './messages.js';

export interface ChatRateLimit {
  /** Requests per second a client may sustain. */
  ratePerSec: number;
  /** Requests a quiet client may send at once. */
  burst: number;
}

export interface ChatServerOptions {
  /** @default 'auto': envelopes (u32be) or IRC-like text lines by the client's first byte */
  framing?: FramingMode;
  /** Longest message text (UTF-8 bytes). @default 4 KiB */
  maxText?: number;
  /** Longest text line from a text client (bytes); longer closes it. @default 8 KiB */
  maxLine?: number;
  /** Bytes queued for one client before it is cut off as SLOW_CONSUMER. @default 1 MiB */
  maxQueue?: number;
  /**
   * Per-client token bucket. A client over it is slowed: its input is not
   * read until it has tokens again (TCP pushes back on it); nobody else waits.
   * @default 25 requests/s, burst 50
   */
  rateLimit?: ChatRateLimit | false;
  /** A framed client silent this long is sent a ping (ms); 0: never. @default 30 000 */
  pingIntervalMs?: number;
  /** A pinged client silent this long more is dropped with PING_TIMEOUT (ms). @default 30 000 */
  pingTimeoutMs?: number;
  /** How long a client cut off gets to read its notice before the socket is destroyed (ms). @default 2 000 */
  noticeGraceMs?: number;
  /** TCP limits (connections, timeouts). Chat's idle timeout defaults to off: pings find the dead. */
  tcp?: Omit<TcpServerOptions, 'logger' | 'name' | 'busyNotice'>;
  logger?: Logger;
  /** Clock for message timestamps (ms since 1970). */
  now?: () => number;
}

type Format = 'text' | ByteOrder;

/** One decoded thing to act on, in stream order. */
type Work =
  | { kind: 'line'; line: string }
  | { kind: 'request'; request: ChatRequest }
  | { kind: 'bad'; error: ServiceError; ref: string | number | undefined }
  | { kind: 'end' };

/** Slack between the chat queue bound and the Connection's own hard bound. */
const HARD_BOUND_SLACK = 64 * 1024;

const DEFAULT_RATE: ChatRateLimit = { ratePerSec: 25, burst: 50 };

const RESOLVED = Promise.resolve();

class Session {
  nick: string;
  format: Format | undefined;
  readonly rooms = new Set<string>();
  current: string | undefined;
  /** Set once the client is on its way out: no more input acted on, no more output queued. */
  gone = false;
  /** Set once it has left its rooms and freed its nick. */
  departed = false;
  readonly queue: Work[] = [];
  paused = false;
  resumeTimer: NodeJS.Timeout | undefined;
  graceTimer: NodeJS.Timeout | undefined;
  tokens: number;
  tokensAt: number;
  lastInputMs: number;
  pingSentMs: number | undefined;
  readonly connectedMs: number;
  /** Output of this turn not yet handed to the socket (see ChatServer.queueOut). */
  out: Buffer[] | undefined;
  outBytes = 0;

  constructor(
    readonly conn: Connection,
    nick: string,
    burst: number,
    nowMs: number,
  ) {
    this.nick = nick;
    this.tokens = burst;
    this.tokensAt = nowMs;
    this.lastInputMs = nowMs;
    this.connectedMs = nowMs;
  }
}

/** An event encoded at most once per wire format, however many clients receive it. */
class Outgoing {
  private text: Buffer | undefined;
  private readonly frames: Partial<Record<ByteOrder, Buffer>> = {};

  constructor(readonly event: ChatEvent) {}

  bytes(format: Format): Buffer | undefined {
    if (format === 'text') {
      if (this.text === undefined) {
        const line = formatTextEvent(this.event);
        if (line === undefined) return undefined;
        this.text = Buffer.from(`${line}\n`);
      }
      return this.text;
    }
    return (this.frames[format] ??= encodeEnvelopeHeader(this.event as unknown as EnvelopeHeader, {
      byteOrder: format,
    }));
  }
}

/**
 * The chat broker (SPEC §2.5): rooms and unique nicknames for envelope
 * clients and `nc` users on one port. Every broadcast is written to each
 * member on its own: a member whose queue passes `maxQueue` is cut off
 * (SLOW_CONSUMER) and nobody waits for it.
 */
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

export class ChatServer {
  readonly name = 'chat';
  readonly stats: ChatStats = { messages: 0, slowConsumers: 0, pingTimeouts: 0, peakQueued: 0 };
  private readonly framing: FramingMode;
  private readonly maxText: number;
  private readonly maxLine: number;
  private readonly maxQueue: number;
  private readonly rate: ChatRateLimit | false;
  private readonly pingIntervalMs: number;
  private readonly pingTimeoutMs: number;
  private readonly noticeGraceMs: number;
  private readonly now: () => number;
  private readonly tcp: TcpServer;
  private readonly log: Logger;
  private readonly sessions = new Set<Session>();
  private readonly byNick = new Map<string, Session>();
  private readonly rooms = new Map<string, Set<Session>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private nextGuest = 1;
  private nextMessageId = 1;
  private bound: Address | undefined;
  /** Sessions with output queued in this turn, written by one microtask. */
  private readonly unflushed: Session[] = [];
  private flushScheduled = false;
  private readonly flushTask = (): void => {
    this.flushAll();
  };

  constructor(options: ChatServerOptions = {}) {
    this.framing = options.framing ?? 'auto';
    this.maxText = options.maxText ?? DEFAULT_MAX_TEXT;
    this.maxLine = options.maxLine ?? DEFAULT_MAX_CHAT_LINE;
    this.maxQueue = options.maxQueue ?? DEFAULT_CHAT_MAX_QUEUE;
    this.rate = options.rateLimit ?? DEFAULT_RATE;
    this.pingIntervalMs = options.pingIntervalMs ?? 30_000;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 30_000;
    this.noticeGraceMs = options.noticeGraceMs ?? 2_000;
    this.now = options.now ?? Date.now;
    this.log = (options.logger ?? silentLogger).child({ service: 'chat' });
    this.tcp = new TcpServer(
      (conn) => {
        this.accept(conn);
      },
      {
        idleTimeoutMs: 0,
        writeTimeoutMs: 30_000,
        ...options.tcp,
        // The chat bound is enforced here, with a notice; the Connection's hard bound sits just above.
        maxPendingWrite: this.maxQueue + HARD_BOUND_SLACK,
        // A client that does not read must not stop us reading its pongs and its quit.
        pauseReadingWhileBlocked: false,
        name: 'chat',
        logger: options.logger ?? silentLogger,
        busyNotice: (error) => encodeTextNotice(error.code, error.message),
      },
    );
  }

  async listen(address: Address): Promise<Address> {
    this.bound = await this.tcp.listen(address);
    if (this.pingIntervalMs > 0) {
      const every = Math.max(10, Math.min(this.pingIntervalMs, this.pingTimeoutMs) / 2);
      this.sweepTimer = setInterval(() => {
        this.sweep();
      }, every);
      this.sweepTimer.unref();
    }
    return this.bound;
  }

  get addresses(): string[] {
    return this.bound ? [`tcp ${formatAddress(this.bound)}`] : [];
  }

  get connections(): number {
    return this.tcp.connections;
  }

  /** Nicknames in a room, in join order (empty for a room nobody is in). */
  roster(room: string): string[] {
    return [...(this.rooms.get(canonicalRoom(room)) ?? [])].map((s) => s.nick);
  }

  /** Rooms that have members. */
  get roomNames(): string[] {
    return [...this.rooms.keys()];
  }

  /** Nicknames of every client that has spoken (been given a nick). */
  get nicks(): string[] {
    return [...this.byNick.values()].map((s) => s.nick);
  }

  async close(graceMs?: number): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    if (this.bound) await this.tcp.close(graceMs);
  }

  // ---- connections ------------------------------------------------------

  private accept(conn: Connection): void {
    const session = new Session(conn, '', this.rate ? this.rate.burst : 0, performance.now());
    this.sessions.add(session);
    let handlers: { push(chunk: Buffer): void; end(): void; inMessage(): boolean } | undefined;
    const choose = (mode: ResolvedFraming): typeof handlers => {
      handlers = this.decoderFor(session, mode);
      this.log.debug({ event: 'framing', conn: conn.id, framing: mode });
      return handlers;
    };
    if (this.framing !== 'auto') choose(this.framing);
    conn.start({
      data: (chunk) => {
        if (session.gone) return; // cut off or quit: the rest is not read
        session.lastInputMs = performance.now();
        session.pingSentMs = undefined;
        const h = handlers ?? choose(detectFraming(chunk[0] ?? 0));
        try {
          h?.push(chunk);
        } catch (err) {
          // LINE_TOO_LONG, BAD_HEADER…: this client goes, and its rooms hear why.
          if (!(err instanceof SockitError)) throw err;
          this.drain(session); // what came before the bad bytes still counts
          this.cutOff(session, err);
          return;
        }
        this.drain(session);
      },
      end: () => {
        if (session.gone) return;
        try {
          handlers?.end();
        } catch (err) {
          if (!(err instanceof SockitError)) throw err;
          this.drain(session);
          this.cutOff(session, err); // INCOMPLETE: the peer stopped inside a message
          return;
        }
        session.queue.push({ kind: 'end' });
        this.drain(session);
      },
      inMessage: () => handlers?.inMessage() ?? false,
      notice: (error) => this.notice(session, error),
      close: (info) => {
        this.closed(session, info);
      },
    });
  }

  private decoderFor(
    session: Session,
    mode: ResolvedFraming,
  ): { push(chunk: Buffer): void; end(): void; inMessage(): boolean } {
    this.identify(session, mode === 'raw' ? 'text' : mode);
    if (mode === 'raw') {
      const lines = new LineDecoder(
        (line) => {
          session.queue.push({ kind: 'line', line: line.toString('utf8') });
        },
        { maxLine: this.maxLine },
      );
      return {
        push: (chunk) => {
          lines.push(chunk);
        },
        end: () => {
          lines.end();
        },
        inMessage: () => lines.bufferedBytes > 0,
      };
    }
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
      { byteOrder: mode },
    );
    return {
      push: (chunk) => {
        envelopes.push(chunk);
      },
      end: () => {
        envelopes.end();
      },
      inMessage: () => envelopes.inMessage,
    };
  }

  /** The client's format is known: it gets a guest nick (and a text client the lobby). */
  private identify(session: Session, format: Format): void {
    session.format = format;
    let nick: string;
    do nick = `guest${this.nextGuest++}`;
    while (this.byNick.has(nick));
    session.nick = nick;
    this.byNick.set(nick, session);
    this.log.info({ event: 'hello', conn: session.conn.id, nick, format });
    if (format !== 'text') {
      this.deliver(session, new Outgoing({ type: 'welcome', nick, version: 1 }));
    } else {
      // nc users cannot answer pings: TCP keepalive probes find a vanished peer instead.
      if (this.pingIntervalMs > 0) session.conn.socket.setKeepAlive(true, this.pingIntervalMs);
      this.sendLine(session, `* welcome, ${nick}: you are in #${DEFAULT_ROOM}; /help for commands`);
      this.join(session, DEFAULT_ROOM, undefined, undefined);
    }
  }

  private notice(session: Session, error: SockitError): Buffer {
    const format = session.format ?? 'text';
    if (format === 'text') return encodeTextNotice(error.code, error.message);
    return encodeEnvelopeHeader(
      { type: 'error', code: error.code, message: error.message },
      { byteOrder: format },
    );
  }

  private closed(session: Session, info: CloseInfo): void {
    if (session.resumeTimer) clearTimeout(session.resumeTimer);
    if (session.graceTimer) clearTimeout(session.graceTimer);
    this.sessions.delete(session);
    this.depart(session, info.error?.code ?? 'quit');
  }

  /** Takes the client out of every room (telling the others) and frees its nick. Once. */
  private depart(session: Session, reason: string): void {
    session.gone = true;
    session.queue.length = 0;
    if (session.departed) return;
    session.departed = true;
    for (const room of [...session.rooms]) this.removeFromRoom(session, room, reason, false);
    if (session.nick !== '' && this.byNick.get(nickKey(session.nick)) === session) {
      this.byNick.delete(nickKey(session.nick));
    }
    this.log.info({ event: 'bye', conn: session.conn.id, nick: session.nick, reason });
  }

  /** Finds framed clients that stopped answering, and undecided connections that never spoke. */
  private sweep(): void {
    const now = performance.now();
    for (const session of this.sessions) {
      if (session.gone) continue;
      if (session.format === undefined) {
        if (now - session.connectedMs > this.pingIntervalMs + this.pingTimeoutMs) {
          session.conn.destroy(new LimitError('IDLE_TIMEOUT', 'sent nothing'));
        }
        continue;
      }
      // nc users cannot answer a ping: TCP keepalive (see identify) and failed writes find them.
      if (session.format === 'text') continue;
      if (session.pingSentMs !== undefined) {
        if (now - session.pingSentMs >= this.pingTimeoutMs) {
          this.stats.pingTimeouts++;
          this.log.info({ event: 'ping_timeout', conn: session.conn.id, nick: session.nick });
          this.cutOff(
            session,
            new LimitError('PING_TIMEOUT', `no answer to a ping within ${this.pingTimeoutMs} ms`),
          );
        }
      } else if (now - session.lastInputMs >= this.pingIntervalMs) {
        session.pingSentMs = now;
        this.deliver(session, new Outgoing({ type: 'ping', id: Math.round(now) }));
      }
    }
  }

  // ---- input ------------------------------------------------------------

  /** Acts on queued input in order; a client over its rate waits, reading paused. */
  private drain(session: Session): void {
    while (!session.paused && !session.gone && session.queue.length > 0) {
      const work = session.queue[0] as Work;
      if (needsToken(work) && !this.takeToken(session)) {
        this.slowDown(session);
        return;
      }
      session.queue.shift();
      try {
        this.act(session, work);
      } catch (err) {
        if (err instanceof ServiceError) {
          this.sendError(session, err, refOf(work));
        } else {
          this.cutOff(session, err instanceof SockitError ? err : fromSystemError(err, 'chat'));
        }
      }
    }
  }

  private takeToken(session: Session): boolean {
    const rate = this.rate;
    if (!rate) return true;
    const now = performance.now();
    session.tokens = Math.min(
      rate.burst,
      session.tokens + ((now - session.tokensAt) * rate.ratePerSec) / 1000,
    );
    session.tokensAt = now;
    if (session.tokens < 1) return false;
    session.tokens -= 1;
    return true;
  }

  private slowDown(session: Session): void {
    const rate = this.rate;
    if (!rate) return;
    session.paused = true;
    session.conn.pause();
    const waitMs = Math.ceil(((1 - session.tokens) * 1000) / rate.ratePerSec);
    session.resumeTimer = setTimeout(() => {
      session.resumeTimer = undefined;
      session.paused = false;
      if (session.gone) return;
      session.conn.resume();
      this.drain(session);
    }, waitMs);
  }

  private act(session: Session, work: Work): void {
    switch (work.kind) {
      case 'end':
        this.depart(session, 'quit');
        this.flushOut(session);
        session.conn.end();
        return;
      case 'bad':
        throw work.error;
      case 'line':
        this.actText(session, parseTextLine(work.line));
        return;
      case 'request':
        this.actRequest(session, work.request);
        return;
    }
  }

  private actText(session: Session, command: TextCommand): void {
    switch (command.kind) {
      case 'none':
        return;
      case 'say': {
        const room = session.current;
        if (room === undefined) {
          throw new ServiceError('NOT_IN_ROOM', 'you are in no room: /join ROOM first');
        }
        this.say(session, room, command.text);
        return;
      }
      case 'nick':
        this.rename(session, command.nick, undefined);
        return;
      case 'join':
        this.join(session, command.room, undefined, undefined);
        return;
      case 'part':
        this.leave(session, command.room);
        return;
      case 'msg':
        this.privateMessage(session, command.to, command.text);
        return;
      case 'who':
        this.who(session, command.room, undefined);
        return;
      case 'quit':
        this.quit(session);
        return;
      case 'help':
        for (const line of TEXT_HELP) this.sendLine(session, line);
        return;
    }
  }

  private actRequest(session: Session, request: ChatRequest): void {
    switch (request.type) {
      case 'join':
        this.join(session, request.room, request.nick, request.ref);
        return;
      case 'say': {
        const room = request.room !== undefined ? canonicalRoom(request.room) : session.current;
        if (room === undefined) throw new ServiceError('NOT_IN_ROOM', 'join a room first');
        this.say(session, room, request.text);
        return;
      }
      case 'msg':
        this.privateMessage(session, request.to, request.text);
        return;
      case 'who':
        this.who(session, request.room, request.ref);
        return;
      case 'leave':
        this.leave(session, request.room);
        return;
      case 'nick':
        this.rename(session, request.nick, request.ref);
        return;
      case 'ping':
        this.deliver(
          session,
          new Outgoing(
            request.id !== undefined ? { type: 'pong', id: request.id } : { type: 'pong' },
          ),
        );
        return;
      case 'pong':
        return;
      case 'quit':
        this.quit(session);
        return;
    }
  }

  // ---- what clients ask for --------------------------------------------

  private join(
    session: Session,
    roomName: string,
    nick: string | undefined,
    ref: string | number | undefined,
  ): void {
    const room = canonicalRoom(roomName);
    if (nick !== undefined && nick !== session.nick) this.rename(session, nick, ref);
    if (!session.rooms.has(room)) {
      if (session.rooms.size >= MAX_ROOMS_PER_CLIENT) {
        throw new ServiceError('NOT_ALLOWED', `at most ${MAX_ROOMS_PER_CLIENT} rooms at once`);
      }
      let members = this.rooms.get(room);
      if (!members) {
        members = new Set();
        this.rooms.set(room, members);
      }
      members.add(session);
      session.rooms.add(room);
      this.log.info({ event: 'join', conn: session.conn.id, nick: session.nick, room });
      this.broadcast(
        members,
        new Outgoing({ type: 'joined', room, nick: session.nick, ts: this.now() }),
      );
    }
    // Joining a room one is in is harmless: it becomes current, and the roster comes again.
    session.current = room;
    this.who(session, room, ref);
  }

  private say(session: Session, room: string, text: string): void {
    checkText(text, this.maxText);
    const members = this.rooms.get(room);
    if (!members?.has(session)) throw new ServiceError('NOT_IN_ROOM', `you are not in #${room}`);
    const out = new Outgoing({
      type: 'message',
      id: this.nextMessageId++,
      from: session.nick,
      room,
      text,
      ts: this.now(),
    });
    this.stats.messages++;
    // nc users see what they typed already; envelope clients get theirs back as the receipt.
    this.broadcast(members, out, session.format === 'text' ? session : undefined);
  }

  private privateMessage(session: Session, to: string, text: string): void {
    checkText(text, this.maxText);
    const target = this.byNick.get(nickKey(to));
    if (!target || target.gone) {
      throw new ServiceError('NO_SUCH_NICK', `nobody is called "${escapeText(to.slice(0, 40))}"`);
    }
    const event: ChatEvent = {
      type: 'message',
      id: this.nextMessageId++,
      from: session.nick,
      to: target.nick,
      text,
      ts: this.now(),
    };
    this.stats.messages++;
    this.deliver(target, new Outgoing(event));
    if (target !== session) {
      if (session.format === 'text') {
        const line = formatTextEvent(event, session.nick);
        if (line !== undefined) this.sendLine(session, line);
      } else this.deliver(session, new Outgoing(event));
    }
  }

  private who(
    session: Session,
    roomName: string | undefined,
    ref: string | number | undefined,
  ): void {
    const room = roomName !== undefined ? canonicalRoom(roomName) : session.current;
    if (room === undefined) throw new ServiceError('NOT_IN_ROOM', 'you are in no room');
    const nicks = [...(this.rooms.get(room) ?? [])].map((s) => s.nick);
    this.deliver(
      session,
      new Outgoing(
        ref !== undefined ? { type: 'roster', room, nicks, ref } : { type: 'roster', room, nicks },
      ),
    );
  }

  private leave(session: Session, roomName: string | undefined): void {
    const room = roomName !== undefined ? canonicalRoom(roomName) : session.current;
    if (room === undefined || !session.rooms.has(room)) {
      throw new ServiceError(
        'NOT_IN_ROOM',
        room === undefined ? 'you are in no room' : `you are not in #${room}`,
      );
    }
    this.removeFromRoom(session, room, 'left', true);
  }

  private rename(session: Session, nick: string, ref: string | number | undefined): void {
    checkNick(nick);
    if (nick === session.nick) return;
    const key = nickKey(nick);
    const holder = this.byNick.get(key);
    if (holder && holder !== session) {
      throw new ServiceError('NICK_TAKEN', `nickname "${nick}" is taken`);
    }
    const old = session.nick;
    this.byNick.delete(nickKey(old));
    session.nick = nick;
    this.byNick.set(key, session);
    this.log.info({ event: 'nick', conn: session.conn.id, old, nick });
    const event: ChatEvent =
      ref !== undefined
        ? { type: 'nick', old, nick, ts: this.now(), ref }
        : { type: 'nick', old, nick, ts: this.now() };
    const audience = new Set<Session>([session]);
    for (const room of session.rooms) for (const s of this.rooms.get(room) ?? []) audience.add(s);
    this.broadcast(audience, new Outgoing(event));
  }

  private quit(session: Session): void {
    this.depart(session, 'quit');
    if (session.format === 'text') this.queueOut(session, Buffer.from('* bye\n'));
    this.flushOut(session);
    session.conn.end();
  }

  private removeFromRoom(session: Session, room: string, reason: string, tellSelf: boolean): void {
    const members = this.rooms.get(room);
    session.rooms.delete(room);
    if (session.current === room) session.current = [...session.rooms].at(-1);
    if (!members) return;
    members.delete(session);
    if (members.size === 0) this.rooms.delete(room);
    this.log.info({ event: 'leave', conn: session.conn.id, nick: session.nick, room, reason });
    const out = new Outgoing({ type: 'left', room, nick: session.nick, reason, ts: this.now() });
    this.broadcast(members, out);
    if (tellSelf) this.deliver(session, out);
  }

  // ---- output -----------------------------------------------------------

  private broadcast(members: Iterable<Session>, out: Outgoing, except?: Session): void {
    for (const member of members) if (member !== except) this.deliver(member, out);
  }

  /** Queues one event for one client, or cuts it off if its queue is full. Never waits. */
  private deliver(session: Session, out: Outgoing): void {
    if (session.gone || session.format === undefined) return;
    const bytes = out.bytes(session.format);
    if (bytes === undefined) return;
    const conn = session.conn;
    const queued = conn.pendingWrite + session.outBytes;
    if (queued + bytes.length > this.maxQueue) {
      this.stats.slowConsumers++;
      this.log.warn({
        event: 'slow_consumer',
        conn: conn.id,
        nick: session.nick,
        queued,
      });
      this.cutOff(
        session,
        new LimitError(
          'SLOW_CONSUMER',
          `you are not reading: ${queued} bytes queued (limit ${this.maxQueue})`,
        ),
      );
      return;
    }
    this.queueOut(session, bytes);
  }

  private sendLine(session: Session, line: string): void {
    if (!session.gone) this.queueOut(session, Buffer.from(`${line}\n`));
  }

  /**
   * Queues bytes for a client. Everything queued for it in one turn of the
   * event loop goes to its socket in one write: a sender's batch of N
   * messages costs each member of the room one write, not N (a fan-out to
   * 100 clients was 10× the baseline's CPU per delivery with a write per
   * message, measured in bench/chat.bench.ts). Order is kept: every other
   * write to a client's socket flushes this first.
   */
  private queueOut(session: Session, bytes: Buffer): void {
    if (session.out === undefined) {
      session.out = [bytes];
      this.unflushed.push(session);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        void RESOLVED.then(this.flushTask);
      }
    } else session.out.push(bytes);
    session.outBytes += bytes.length;
  }

  private flushAll(): void {
    const sessions = this.unflushed;
    // Members of one room usually got the very same events: join them into one buffer once.
    let last: Buffer[] | undefined;
    let joined: Buffer | undefined;
    try {
      for (let i = 0; i < sessions.length; i++) {
        const session = sessions[i] as Session;
        const out = session.out;
        if (out === undefined) continue;
        if (last === undefined || !sameBuffers(out, last)) {
          last = out;
          joined = out.length === 1 ? out[0] : Buffer.concat(out, session.outBytes);
        }
        this.writeOut(session, joined as Buffer);
      }
    } finally {
      sessions.length = 0;
      this.flushScheduled = false;
    }
  }

  /** Hands a client's queued output to its socket now. */
  private flushOut(session: Session): void {
    const out = session.out;
    if (out === undefined) return;
    this.writeOut(session, out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
  }

  private writeOut(session: Session, bytes: Buffer): void {
    session.out = undefined;
    session.outBytes = 0;
    const conn = session.conn;
    conn.write(bytes);
    if (conn.pendingWrite > this.stats.peakQueued) this.stats.peakQueued = conn.pendingWrite;
  }

  private sendError(session: Session, error: ServiceError, ref: string | number | undefined): void {
    this.deliver(
      session,
      new Outgoing(
        ref !== undefined
          ? { type: 'error', code: error.code, message: error.message, ref }
          : { type: 'error', code: error.code, message: error.message },
      ),
    );
  }

  /**
   * Ends a client for `error`: it leaves its rooms at once (the others are
   * told why), its notice goes after what is already queued, and the socket
   * is destroyed if it has not read that far within the grace period.
   */
  private cutOff(session: Session, error: SockitError): void {
    if (session.gone) return;
    this.depart(session, error.code);
    this.flushOut(session); // the notice goes after what is already queued
    const conn = session.conn;
    conn.end(this.notice(session, error));
    session.graceTimer = setTimeout(() => {
      conn.destroy(error);
    }, this.noticeGraceMs);
    session.graceTimer.unref();
  }
}

/** Whether two output lists hold the same buffers (the same objects), in the same order. */
function sameBuffers(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function needsToken(work: Work): boolean {
  if (work.kind === 'request') return work.request.type !== 'pong' && work.request.type !== 'ping';
  return work.kind === 'line';
}

function refOf(work: Work): string | number | undefined {
  if (work.kind === 'bad') return work.ref;
  if (work.kind === 'request' && 'ref' in work.request) return work.request.ref;
  return undefined;
}

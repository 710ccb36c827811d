/**
 * The chat server (SPEC §2.5): rooms and unique nicknames for envelope
 * clients and `nc` users on one port. This file accepts connections, picks
 * each client's decoder by its first byte and sweeps for silent ones; the
 * rest lives next to it:
 *
 * - session.ts   one client's state (`Session`) and the transport it needs (`ChatConnection`)
 * - decoders.ts  bytes → queued work: text lines (with the no-newline settle) or envelopes
 * - dispatch.ts  input in order → broker calls; the per-client rate limit
 * - broker.ts    this node's rooms and nicks; what each request does
 * - outbound.ts  encode once per format, one write per client per turn, SLOW_CONSUMER
 * - bus.ts       what crosses nodes (`ChatBus`); local-bus.ts is the in-process one
 * - history.ts   the in-process room history (last N per room, a global memory bound)
 *
 * Any transport can carry a client: `attach(conn)` takes a `ChatConnection`
 * (a TCP or TLS `Connection`, or e.g. a WebSocket wrapped so that one
 * message carries one u32be envelope frame) and treats it exactly like a
 * client accepted on the chat port, bounds and all.
 */
import { LimitError, SockitError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { detectFraming, type FramingMode, type ResolvedFraming } from '../../protocol/framing.js';
import { encodeTextNotice } from '../../protocol/text-notice.js';
import { formatAddress, type Address } from '../../transport/address.js';
import type { Connection } from '../../transport/connection.js';
import { TcpServer, type TcpServerOptions } from '../../transport/tcp-server.js';
import { ChatBroker, type ChatStats } from './broker.js';
import type { ChatBus } from './bus.js';
import { Dispatcher } from './dispatch.js';
import { envelopeDecoder, lineDecoder, type Decoder } from './decoders.js';
import { BusDelivery } from './delivery.js';
import {
  DEFAULT_CHAT_HISTORY,
  DEFAULT_CHAT_LINE_SETTLE_MS,
  DEFAULT_CHAT_NOTICE_GRACE_MS,
  DEFAULT_CHAT_PING_INTERVAL_MS,
  DEFAULT_CHAT_PING_TIMEOUT_MS,
  DEFAULT_CHAT_RATE,
  DEFAULT_CHAT_WRITE_TIMEOUT_MS,
  HARD_BOUND_SLACK,
  MIN_SWEEP_INTERVAL_MS,
} from './limits.js';
import { LocalChatBus } from './local-bus.js';
import {
  DEFAULT_CHAT_MAX_QUEUE,
  DEFAULT_MAX_CHAT_LINE,
  DEFAULT_MAX_TEXT,
  canonicalRoom,
} from './messages.js';
import { Outgoing, noticeFor } from './outbound.js';
import { Session, type ChatConnection, type ChatRateLimit } from './session.js';
import type { Service } from '../common/service.js';

export type { ChatStats } from './broker.js';
export type { ChatConnection, ChatRateLimit } from './session.js';

/** Options of {@link ChatServer}; every field has a default (docs/LIMITS.md). */
export interface ChatServerOptions {
  /** @default 'auto': envelopes (u32be) or IRC-like text lines by the client's first byte */
  framing?: FramingMode;
  /** Longest message text (UTF-8 bytes). @default 4 KiB */
  maxText?: number;
  /** Longest text line from a text client (bytes); longer closes it. @default 8 KiB */
  maxLine?: number;
  /**
   * A text client's read that ends inside a line is taken as the whole line
   * after this long without more bytes (ms), and the sender gets the line
   * back as its answer; 0: wait for the line end. @default 100
   */
  lineSettleMs?: number;
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
  /** Messages of a room an envelope client gets when it joins (and `/history` shows). @default 100 */
  historyLimit?: number;
  /**
   * What crosses nodes (message order, nick leases, presence, history).
   * @default an in-process `LocalChatBus` keeping `historyLimit` messages per room
   */
  bus?: ChatBus;
  /** TCP limits (connections, timeouts). Chat's idle timeout defaults to off: pings find the dead. */
  tcp?: Omit<TcpServerOptions, 'logger' | 'name' | 'busyNotice'>;
  logger?: Logger;
  /** Clock for message timestamps (ms since 1970). */
  now?: () => number;
}

/**
 * The chat broker (docs/CHAT.md): rooms and unique nicks for envelope
 * clients and `nc` users on one port, with history, rate limits and
 * slow-reader cut-offs. Rooms cross nodes through its {@link ChatBus}.
 * @example
 * ```ts
 * import { ChatServer } from 'sockit';
 *
 * // Envelope clients and `nc` users share rooms on one port.
 * const chat = new ChatServer();
 * await chat.listen({ kind: 'inet', host: '127.0.0.1', port: 7194 });
 * ```
 */
export class ChatServer implements Service {
  readonly name = 'chat';
  readonly stats: ChatStats = { messages: 0, slowConsumers: 0, pingTimeouts: 0, peakQueued: 0 };
  private readonly framing: FramingMode;
  private readonly maxLine: number;
  private readonly lineSettleMs: number;
  private readonly rate: ChatRateLimit | false;
  private readonly pingIntervalMs: number;
  private readonly pingTimeoutMs: number;
  private readonly tcp: TcpServer;
  private readonly log: Logger;
  private readonly bus: ChatBus;
  private readonly broker: ChatBroker;
  private readonly dispatch: Dispatcher;
  /** The bus's start, when it is asynchronous (a remote bus connecting). */
  private readonly busReady: Promise<void> | undefined;
  private readonly sessions = new Set<Session>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private bound: Address | undefined;

  constructor(options: ChatServerOptions = {}) {
    this.framing = options.framing ?? 'auto';
    this.maxLine = options.maxLine ?? DEFAULT_MAX_CHAT_LINE;
    this.lineSettleMs = options.lineSettleMs ?? DEFAULT_CHAT_LINE_SETTLE_MS;
    const maxQueue = options.maxQueue ?? DEFAULT_CHAT_MAX_QUEUE;
    this.rate = options.rateLimit ?? DEFAULT_CHAT_RATE;
    this.pingIntervalMs = options.pingIntervalMs ?? DEFAULT_CHAT_PING_INTERVAL_MS;
    this.pingTimeoutMs = options.pingTimeoutMs ?? DEFAULT_CHAT_PING_TIMEOUT_MS;
    this.log = (options.logger ?? silentLogger).child({ service: 'chat' });
    const historyLimit = options.historyLimit ?? DEFAULT_CHAT_HISTORY;
    this.bus = options.bus ?? new LocalChatBus({ historyLimit });
    this.broker = new ChatBroker(this.bus, this.stats, {
      maxText: options.maxText ?? DEFAULT_MAX_TEXT,
      maxQueue,
      noticeGraceMs: options.noticeGraceMs ?? DEFAULT_CHAT_NOTICE_GRACE_MS,
      historyLimit,
      now: options.now ?? Date.now,
      log: this.log,
    });
    this.dispatch = new Dispatcher(this.broker, this.rate);
    const started = this.bus.start(new BusDelivery(this.broker, this.log));
    if (started instanceof Promise) {
      // Awaited by listen(); until then a remote bus refuses with CLUSTER_UNAVAILABLE.
      this.busReady = started;
      started.catch(() => undefined);
    }
    this.tcp = new TcpServer(
      (conn) => {
        this.accept(conn);
      },
      {
        idleTimeoutMs: 0,
        writeTimeoutMs: DEFAULT_CHAT_WRITE_TIMEOUT_MS,
        ...options.tcp,
        // The chat bound is enforced here, with a notice; the Connection's hard bound sits just above.
        maxPendingWrite: maxQueue + HARD_BOUND_SLACK,
        // A client that does not read must not stop us reading its pongs and its quit.
        pauseReadingWhileBlocked: false,
        name: 'chat',
        logger: options.logger ?? silentLogger,
        busyNotice: (error) => encodeTextNotice(error.code, error.message),
      },
    );
  }

  async listen(address: Address): Promise<Address> {
    await this.busReady;
    this.bound = await this.tcp.listen(address);
    this.startSweep();
    return this.bound;
  }

  get addresses(): string[] {
    return this.bound ? [`tcp ${formatAddress(this.bound)}`] : [];
  }

  get connections(): number {
    return this.tcp.connections;
  }

  /** Nicknames in a room on this node, in join order (empty for a room nobody is in). */
  roster(room: string): string[] {
    return [...(this.broker.rooms.get(canonicalRoom(room)) ?? [])].map((s) => s.nick);
  }

  /** Rooms that have members on this node. */
  get roomNames(): string[] {
    return [...this.broker.rooms.keys()];
  }

  /** Nicknames of every client on this node that has spoken (been given a nick). */
  get nicks(): string[] {
    return [...this.broker.byNick.values()].map((s) => s.nick);
  }

  async close(graceMs?: number): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    if (this.bound) await this.tcp.close(graceMs);
    // Clients attached over other transports are not the TCP server's to close.
    for (const session of this.sessions) {
      session.conn.destroy(new LimitError('SHUTTING_DOWN', 'the chat server is shutting down'));
    }
    await this.bus.close();
  }

  /**
   * Serves one client over any transport, exactly as one accepted on the
   * chat port: `framing` 'auto' (the default: by its first byte), 'raw'
   * (text lines) or 'u32be'/'u32le' (envelopes; the welcome is sent at once).
   * The server does not own the transport's limits: give it a bound on
   * pending output of at least `maxQueue` + 64 KiB.
   */
  attach(conn: ChatConnection, options: { framing?: FramingMode } = {}): void {
    this.startSweep();
    const session = new Session(conn, this.rate ? this.rate.burst : 0, performance.now());
    this.sessions.add(session);
    let decoder: Decoder | undefined;
    const choose = (mode: ResolvedFraming): Decoder => {
      decoder = this.decoderFor(session, mode);
      this.log.debug({ event: 'framing', conn: conn.id, framing: mode });
      return decoder;
    };
    const framing = options.framing ?? this.framing;
    if (framing !== 'auto') choose(framing);
    conn.start({
      data: (chunk) => {
        if (session.gone) return; // cut off or quit: the rest is not read
        session.lastInputMs = performance.now();
        session.pingSentMs = undefined;
        const d = decoder ?? choose(detectFraming(chunk[0] ?? 0));
        try {
          d.push(chunk);
        } catch (err) {
          // LINE_TOO_LONG, BAD_HEADER…: this client goes, and its rooms hear why.
          if (!(err instanceof SockitError)) throw err;
          this.dispatch.drain(session); // what came before the bad bytes still counts
          this.broker.cutOff(session, err);
          return;
        }
        this.dispatch.drain(session);
      },
      end: () => {
        if (session.gone) return;
        try {
          decoder?.end();
        } catch (err) {
          if (!(err instanceof SockitError)) throw err;
          this.dispatch.drain(session);
          this.broker.cutOff(session, err); // INCOMPLETE: the peer stopped inside a message
          return;
        }
        session.queue.push({ kind: 'end' });
        this.dispatch.drain(session);
      },
      inMessage: () => decoder?.inMessage() ?? false,
      notice: (error) => noticeFor(session, error),
      close: (info) => {
        if (session.resumeTimer) clearTimeout(session.resumeTimer);
        if (session.graceTimer) clearTimeout(session.graceTimer);
        decoder?.cancel();
        this.sessions.delete(session);
        this.broker.depart(session, info.error?.code ?? 'quit');
      },
    });
    if (decoder !== undefined) this.dispatch.drain(session); // the welcome, now
  }

  private accept(conn: Connection): void {
    this.attach(conn);
  }

  /** The client's format is known: its decoder, and its hello (a guest nick) first in line. */
  private decoderFor(session: Session, mode: ResolvedFraming): Decoder {
    session.format = mode === 'raw' ? 'text' : mode;
    session.queue.push({ kind: 'hello' });
    if (mode !== 'raw') return envelopeDecoder(session, mode);
    // nc users cannot answer pings: TCP keepalive probes find a vanished peer instead.
    if (this.pingIntervalMs > 0) keepAlive(session.conn, this.pingIntervalMs);
    return lineDecoder(session, this.maxLine, this.lineSettleMs, () => {
      this.dispatch.drain(session);
    });
  }

  private startSweep(): void {
    if (this.sweepTimer !== undefined || this.pingIntervalMs <= 0) return;
    const every = Math.max(
      MIN_SWEEP_INTERVAL_MS,
      Math.min(this.pingIntervalMs, this.pingTimeoutMs) / 2,
    );
    this.sweepTimer = setInterval(() => {
      this.sweep();
    }, every);
    this.sweepTimer.unref();
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
      // nc users cannot answer a ping: TCP keepalive (see decoderFor) and failed writes find them.
      if (session.format === 'text') continue;
      if (session.pingSentMs !== undefined) {
        if (now - session.pingSentMs >= this.pingTimeoutMs) {
          this.broker.pingTimeout(session, this.pingTimeoutMs);
        }
      } else if (now - session.lastInputMs >= this.pingIntervalMs) {
        session.pingSentMs = now;
        this.broker.outbound.deliver(session, new Outgoing({ type: 'ping', id: Math.round(now) }));
      }
    }
  }
}

/** TCP keepalive where the transport has it (a WebSocket pings instead). */
function keepAlive(conn: ChatConnection, ms: number): void {
  conn.setKeepAlive?.(ms);
}

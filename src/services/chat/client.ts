import { NetworkError, ProtocolError, fromErrorEnvelope, type SockitError } from '../../errors.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../../limits.js';
import type { ByteOrder } from '../../protocol/byte-order.js';
import {
  EnvelopeDecoder,
  encodeEnvelopeHeader,
  type EnvelopeHeader,
} from '../../protocol/envelope.js';
import { parseTextNotice } from '../../protocol/text-notice.js';
import type { Address } from '../../transport/address.js';
import type { CloseInfo, Connection } from '../../transport/connection.js';
import { connect, type ConnectOptions } from '../../transport/tcp-client.js';
import type {
  ChatEvent,
  ChatNickEvent,
  ChatRequest,
  ChatRosterEvent,
  ChatWelcomeEvent,
} from './messages.js';

/** Options of {@link ChatClient}: nick, rooms, framing, TLS, timeouts. */
export interface ChatClientOptions extends ConnectOptions {
  /** @default 'u32be' */
  byteOrder?: ByteOrder;
  /** How long `join`, `who` and `nick` wait for their answer (ms). @default 10 000 */
  timeoutMs?: number;
  /**
   * Every event the server sends, in order (pings are answered for you and
   * not shown; an error that answers a pending `join`/`who`/`nick` rejects
   * that call instead).
   */
  onEvent?: (event: ChatEvent) => void;
  /** The connection closed: `error` is undefined for an orderly close. */
  onClose?: (error: SockitError | undefined) => void;
}

interface Waiter {
  type: ChatEvent['type'];
  resolve: (event: ChatEvent) => void;
  reject: (error: SockitError) => void;
  timer: NodeJS.Timeout;
}

const EVENT_TYPES = new Set([
  'message',
  'joined',
  'left',
  'roster',
  'nick',
  'error',
  'welcome',
  'ping',
  'pong',
]);

/**
 * A chat client speaking envelopes (SPEC §2.5). Requests that have an answer
 * (`join`, `who`, `nick`) return promises; everything the server sends also
 * reaches `onEvent`, so a UI can simply print events as they come.
 * @example
 * ```ts
 * import { ChatClient, parseAddress } from 'sockit';
 *
 * const client = await ChatClient.connect(parseAddress('127.0.0.1', { port: 7194 }), {
 *   onEvent: (event) => {
 *     if (event.type === 'message') console.log(`${event.from}: ${event.text}`);
 *   },
 * });
 * const roster = await client.join('lobby', 'alice');
 * console.log(roster.nicks);
 * client.say('hello, everyone', 'lobby');
 * ```
 */
export class ChatClient {
  /** The nickname the server knows us by (from `welcome`, then `nick` events). */
  nick = '';
  private readonly conn: Connection;
  private readonly byteOrder: ByteOrder;
  private readonly timeoutMs: number;
  private readonly onEvent: ((event: ChatEvent) => void) | undefined;
  private readonly waiters = new Map<number, Waiter>();
  private nextRef = 1;
  private failure: SockitError | undefined;
  private welcomed: Promise<ChatWelcomeEvent>;
  private resolveWelcome!: (event: ChatWelcomeEvent) => void;
  /** Resolves once the connection has closed. */
  readonly whenClosed: Promise<CloseInfo>;

  private constructor(conn: Connection, options: ChatClientOptions) {
    this.conn = conn;
    this.byteOrder = options.byteOrder ?? 'u32be';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.onEvent = options.onEvent;
    this.welcomed = new Promise((resolve) => {
      this.resolveWelcome = resolve;
    });
    const decoder = new EnvelopeDecoder(
      {
        onHeader: (header) => {
          this.receive(header);
        },
      },
      { byteOrder: this.byteOrder },
    );
    conn.start({
      data: (chunk) => {
        try {
          decoder.push(chunk);
        } catch (err) {
          // A text notice (BUSY…) reads as an absurd frame length.
          const notice = parseTextNotice(chunk);
          if (notice) throw new ProtocolError(notice.code, `server: ${notice.message}`);
          throw err;
        }
      },
      end: () => {
        conn.end();
      },
      close: (info) => {
        const error =
          info.error ?? new NetworkError('CONNECTION_CLOSED', 'server closed the connection');
        this.failAll(error);
        options.onClose?.(info.error);
      },
    });
    this.whenClosed = conn.whenClosed;
  }

  static async connect(address: Address, options: ChatClientOptions = {}): Promise<ChatClient> {
    const conn = await connect(address, options);
    return new ChatClient(conn, options);
  }

  get remote(): string {
    return this.conn.remote;
  }

  /** Sends one request as it is; its answer (if any) arrives as events. */
  send(request: ChatRequest): void {
    if (this.failure) throw this.failure;
    this.conn.write(encodeEnvelopeHeader(request, { byteOrder: this.byteOrder }));
  }

  /** Joins `room` (as `nick`, if given) and resolves with its roster; rejects with NICK_TAKEN, BAD_ROOM… */
  async join(room: string, nick?: string): Promise<ChatRosterEvent> {
    const ref = this.nextRef++;
    const answer = this.expect(ref, 'roster');
    this.send(nick !== undefined ? { type: 'join', room, nick, ref } : { type: 'join', room, ref });
    return (await answer) as ChatRosterEvent;
  }

  /** The roster of `room` (default: the current room). */
  async who(room?: string): Promise<ChatRosterEvent> {
    const ref = this.nextRef++;
    const answer = this.expect(ref, 'roster');
    this.send(room !== undefined ? { type: 'who', room, ref } : { type: 'who', ref });
    return (await answer) as ChatRosterEvent;
  }

  /** Changes our nickname; rejects with NICK_TAKEN or BAD_NICK. */
  async rename(nick: string): Promise<ChatNickEvent | undefined> {
    if (nick === this.nick) return undefined;
    const ref = this.nextRef++;
    const answer = this.expect(ref, 'nick');
    this.send({ type: 'nick', nick, ref });
    return (await answer) as ChatNickEvent;
  }

  /** Says `text` in `room` (default: the room joined last). The echo is the receipt. */
  say(text: string, room?: string): void {
    this.send(room !== undefined ? { type: 'say', room, text } : { type: 'say', text });
  }

  /** A private message. */
  msg(to: string, text: string): void {
    this.send({ type: 'msg', to, text });
  }

  leave(room?: string): void {
    this.send(room !== undefined ? { type: 'leave', room } : { type: 'leave' });
  }

  /** Resolves once the server has greeted us (its answer to our first request comes after). */
  welcome(): Promise<ChatWelcomeEvent> {
    return this.welcomed;
  }

  /** Finishes our side; the server answers what we sent, then closes. */
  async close(): Promise<void> {
    this.conn.end();
    await this.conn.whenClosed;
  }

  destroy(): void {
    this.conn.destroy();
  }

  private expect(ref: number, type: ChatEvent['type']): Promise<ChatEvent> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(ref);
        reject(new NetworkError('TIMEOUT', `no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiters.set(ref, { type, resolve, reject, timer });
    });
  }

  private receive(header: EnvelopeHeader): void {
    if (!EVENT_TYPES.has(header.type)) return; // a newer server's event: ignored
    const event = header as unknown as ChatEvent;
    switch (event.type) {
      case 'ping':
        this.conn.write(
          encodeEnvelopeHeader(
            event.id !== undefined ? { type: 'pong', id: event.id } : { type: 'pong' },
            { byteOrder: this.byteOrder },
          ),
        );
        return;
      case 'welcome':
        this.nick = event.nick;
        this.resolveWelcome(event);
        break;
      case 'nick':
        if (event.old === this.nick) this.nick = event.nick;
        break;
      case 'error': {
        const waiter = typeof event.ref === 'number' ? this.waiters.get(event.ref) : undefined;
        if (waiter && typeof event.ref === 'number') {
          this.waiters.delete(event.ref);
          clearTimeout(waiter.timer);
          waiter.reject(fromErrorEnvelope(event as unknown as Record<string, unknown>));
          return;
        }
        break;
      }
      default:
        break;
    }
    const ref = 'ref' in event ? event.ref : undefined;
    if (typeof ref === 'number') {
      const waiter = this.waiters.get(ref);
      if (waiter?.type === event.type) {
        this.waiters.delete(ref);
        clearTimeout(waiter.timer);
        waiter.resolve(event);
      }
    }
    this.onEvent?.(event);
  }

  private failAll(error: SockitError): void {
    this.failure ??= error;
    for (const waiter of this.waiters.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(this.failure);
    }
    this.waiters.clear();
  }
}

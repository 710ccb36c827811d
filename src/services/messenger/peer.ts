import { randomBytes } from 'node:crypto';
import { ServiceError, SockitError, InternalError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { formatAddress, normalizeHost, type Address } from '../../transport/address.js';
import { RateLimiter, type RateLimitOptions } from '../../transport/rate-limiter.js';
import { UdpEndpoint } from '../../transport/udp-endpoint.js';
import type { UdpPeer } from '../../transport/udp-server.js';
import {
  DEFAULT_RETRY,
  MAX_MESSENGER_TEXT,
  contactAddress,
  decodeDatagram,
  encodeAck,
  encodeMessage,
  peerKey,
  retryDelay,
  type RetrySchedule,
} from './messages.js';
import { DuplicateFilter } from './dedup.js';
import {
  DEFAULT_MESSENGER_MAX_INFLIGHT,
  DEFAULT_MESSENGER_MAX_PEERS,
  DEFAULT_MESSENGER_SEEN_PER_PEER,
  RETRY_JITTER,
} from './limits.js';

/** A message that arrived (each one once, however often it was sent). */
export interface IncomingMessage {
  /** The sender's id, or undefined for a plain datagram. */
  id: string | undefined;
  /** `json`: a messenger datagram (acked); `plain`: a bare UTF-8 datagram (not acked). */
  kind: 'json' | 'plain';
  /** The contact name the source address belongs to, if it is a contact. */
  contact: string | undefined;
  /** The name the sender put in `from` (unverified). */
  from: string | undefined;
  peer: UdpPeer;
  text: string;
}

/** How a message we sent ended. */
export interface Delivery {
  id: string;
  /** The contact name or the address it went to. */
  to: string;
  peer: UdpPeer;
  /** Sends it took (1 = no retransmission). */
  attempts: number;
  /** From the first send to the ack (ms). */
  rttMs: number;
}

/** Counters of a {@link MessengerPeer}: sent, retransmitted, acked, duplicates dropped. */
export interface MessengerStats {
  received: number;
  duplicates: number;
  malformed: number;
  rateLimited: number;
  acksSent: number;
  retransmits: number;
  delivered: number;
  undelivered: number;
}

/** Options of {@link MessengerPeer}: where to bind, retries, limits. */
export interface MessengerPeerOptions {
  /** Our name, sent as `from`. */
  name?: string;
  /** name → address. */
  contacts?: ReadonlyMap<string, UdpPeer>;
  retry?: Partial<RetrySchedule>;
  /** Messages awaiting an ack at once; more wait their turn. @default 32 */
  maxInflight?: number;
  /** Ids remembered per sender address, to drop duplicates. @default 4096 */
  seenPerPeer?: number;
  /** Sender addresses remembered. @default 1024 */
  maxPeers?: number;
  /** @default 4 KiB */
  maxText?: number;
  /** Per-source-host token bucket on incoming messages, or false. @default 200/s, burst 400 */
  rateLimit?: RateLimitOptions | false;
  onMessage?: (message: IncomingMessage) => void;
  logger?: Logger;
}

interface Outstanding {
  id: string;
  to: string;
  peer: UdpPeer;
  datagram: Buffer;
  attempts: number;
  firstSentMs: number;
  timer: NodeJS.Timeout | undefined;
  resolve: (delivery: Delivery) => void;
  reject: (error: SockitError) => void;
}

/**
 * A messenger peer (SPEC §2.6): one bound UDP socket that sends JSON
 * messages with ids, retransmits them with backoff until acked (or reports
 * UNDELIVERED), acks what it receives and drops duplicates. A plain UTF-8
 * datagram is a message from its address; answer it with `sendPlain`.
 * @example
 * ```ts
 * import { MessengerPeer } from 'sockit';
 *
 * const peer = await MessengerPeer.bind(
 *   { kind: 'inet', host: '127.0.0.1', port: 7195 },
 *   { onMessage: (message) => console.log(message.from ?? message.contact, message.text) },
 * );
 * const delivery = await peer.send('127.0.0.1:7196', 'hello'); // retransmitted until acked
 * console.log(delivery);
 * await peer.close();
 * ```
 */
export class MessengerPeer {
  readonly stats: MessengerStats = {
    received: 0,
    duplicates: 0,
    malformed: 0,
    rateLimited: 0,
    acksSent: 0,
    retransmits: 0,
    delivered: 0,
    undelivered: 0,
  };
  readonly contacts: ReadonlyMap<string, UdpPeer>;
  private readonly endpoint: UdpEndpoint;
  private readonly name: string | undefined;
  private readonly retry: RetrySchedule;
  private readonly maxInflight: number;
  private readonly maxText: number;
  private readonly limiter: RateLimiter | undefined;
  private readonly log: Logger;
  private readonly byAddress = new Map<string, string>();
  private readonly outstanding = new Map<string, Outstanding>();
  private readonly waiting: Outstanding[] = [];
  private readonly seen: DuplicateFilter;
  private onMessage: ((message: IncomingMessage) => void) | undefined;
  private closed = false;

  private constructor(endpoint: UdpEndpoint, options: MessengerPeerOptions) {
    this.endpoint = endpoint;
    this.name = options.name;
    this.contacts = options.contacts ?? new Map();
    for (const [name, peer] of this.contacts) this.byAddress.set(peerKey(peer), name);
    this.retry = {
      initialMs: options.retry?.initialMs ?? DEFAULT_RETRY.initialMs,
      maxMs: options.retry?.maxMs ?? DEFAULT_RETRY.maxMs,
      attempts: options.retry?.attempts ?? DEFAULT_RETRY.attempts,
    };
    this.maxInflight = options.maxInflight ?? DEFAULT_MESSENGER_MAX_INFLIGHT;
    this.seen = new DuplicateFilter(
      options.seenPerPeer ?? DEFAULT_MESSENGER_SEEN_PER_PEER,
      options.maxPeers ?? DEFAULT_MESSENGER_MAX_PEERS,
    );
    this.maxText = options.maxText ?? MAX_MESSENGER_TEXT;
    this.limiter =
      options.rateLimit === false ? undefined : new RateLimiter(options.rateLimit ?? {});
    this.onMessage = options.onMessage;
    this.log = (options.logger ?? silentLogger).child({ service: 'messenger' });
    endpoint.start({
      message: (datagram, peer) => {
        this.receive(datagram, peer);
      },
      error: (error) => {
        this.log.warn({ event: 'udp_error', code: error.code, reason: error.message });
      },
    });
  }

  /** Binds `address` (port 0: a free port the OS picks) and starts receiving. */
  static async bind(address: Address, options: MessengerPeerOptions = {}): Promise<MessengerPeer> {
    const endpoint = await UdpEndpoint.bind(address);
    return new MessengerPeer(endpoint, options);
  }

  /** The bound address (the real port when 0 was asked for). */
  get local(): Address {
    return this.endpoint.local;
  }

  /** Sets who is told of incoming messages. */
  setOnMessage(handler: (message: IncomingMessage) => void): void {
    this.onMessage = handler;
  }

  /** A contact name, or a `host:port`, as an address; UNKNOWN_CONTACT otherwise. */
  resolve(target: string): { name: string; peer: UdpPeer } {
    const contact = this.contacts.get(target);
    if (contact) return { name: target, peer: contact };
    if (/^[A-Za-z0-9_.-]+$/.test(target) && !/^\d+$/.test(target) && !target.includes('.')) {
      throw new ServiceError('UNKNOWN_CONTACT', `no contact called "${target}"`);
    }
    try {
      const peer = contactAddress(target);
      return { name: peerKey(peer), peer };
    } catch {
      throw new ServiceError(
        'UNKNOWN_CONTACT',
        `"${target.slice(0, 64)}" is neither a contact nor host:port`,
      );
    }
  }

  /** The contact name of an address, when it has one. */
  contactOf(peer: UdpPeer): string | undefined {
    return this.byAddress.get(peerKey(peer));
  }

  /**
   * Sends `text` to a contact or `host:port` and resolves once it is acked;
   * rejects with UNDELIVERED after the last retransmission, MESSAGE_TOO_LONG
   * or UNKNOWN_CONTACT.
   */
  send(target: string | UdpPeer, text: string): Promise<Delivery> {
    let name: string;
    let peer: UdpPeer;
    try {
      ({ name, peer } =
        typeof target === 'string'
          ? this.resolve(target)
          : { name: peerKey(target), peer: target });
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new InternalError(String(err)));
    }
    const bytes = Buffer.byteLength(text);
    if (bytes > this.maxText) {
      return Promise.reject(
        new ServiceError('MESSAGE_TOO_LONG', `message of ${bytes} bytes exceeds ${this.maxText}`),
      );
    }
    if (text.length === 0) return Promise.reject(new ServiceError('BAD_REQUEST', 'empty message'));
    if (this.closed) {
      return Promise.reject(new ServiceError('UNDELIVERED', 'the messenger is closed'));
    }
    const id = randomBytes(8).toString('hex');
    const datagram = encodeMessage({
      id,
      ...(this.name !== undefined ? { from: this.name } : {}),
      text,
      ts: Date.now(),
    });
    return new Promise((resolve, reject) => {
      const item: Outstanding = {
        id,
        to: name,
        peer: { host: normalizeHost(peer.host), port: peer.port },
        datagram,
        attempts: 0,
        firstSentMs: 0,
        timer: undefined,
        resolve,
        reject,
      };
      if (this.outstanding.size < this.maxInflight) this.start(item);
      else this.waiting.push(item);
    });
  }

  /** Sends a plain UTF-8 datagram (to a tutorial-style peer): no id, no ack, no retry. */
  async sendPlain(peer: UdpPeer, text: string): Promise<void> {
    await this.endpoint.send(Buffer.from(text), peer);
  }

  /** Stops: messages not yet acked are rejected with UNDELIVERED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new ServiceError('UNDELIVERED', 'the messenger closed before an ack');
    for (const item of [...this.outstanding.values(), ...this.waiting.splice(0)]) {
      if (item.timer) clearTimeout(item.timer);
      item.reject(error);
    }
    this.outstanding.clear();
    await this.endpoint.close();
  }

  // ---- sending ---------------------------------------------------------------

  private start(item: Outstanding): void {
    this.outstanding.set(item.id, item);
    item.firstSentMs = performance.now();
    this.transmit(item);
  }

  private transmit(item: Outstanding): void {
    item.attempts++;
    if (item.attempts > 1) this.stats.retransmits++;
    this.endpoint.send(item.datagram, item.peer).catch((err: unknown) => {
      // EMSGSIZE, a full socket buffer…: counted as a lost send, the schedule carries on.
      this.log.debug({ event: 'send_failed', id: item.id, reason: String(err) });
    });
    const base = retryDelay(this.retry, item.attempts);
    const delay = Math.round(base * (1 - RETRY_JITTER + Math.random() * 2 * RETRY_JITTER));
    item.timer = setTimeout(() => {
      item.timer = undefined;
      if (item.attempts < this.retry.attempts) {
        this.transmit(item);
        return;
      }
      this.finish(item);
      this.stats.undelivered++;
      this.log.info({ event: 'undelivered', id: item.id, to: item.to, attempts: item.attempts });
      item.reject(
        new ServiceError('UNDELIVERED', `no ack from ${item.to} after ${item.attempts} sends`),
      );
    }, delay);
  }

  private finish(item: Outstanding): void {
    if (item.timer) clearTimeout(item.timer);
    this.outstanding.delete(item.id);
    const next = this.waiting.shift();
    if (next && !this.closed) this.start(next);
  }

  private acked(id: string, from: UdpPeer): void {
    const item = this.outstanding.get(id);
    // The id is 64 random bits, and the ack must come from the port we sent to.
    if (!item || item.peer.port !== from.port) return;
    this.finish(item);
    this.stats.delivered++;
    item.resolve({
      id: item.id,
      to: item.to,
      peer: item.peer,
      attempts: item.attempts,
      rttMs: Math.round((performance.now() - item.firstSentMs) * 1000) / 1000,
    });
  }

  // ---- receiving -------------------------------------------------------------

  private receive(datagram: Buffer, peer: UdpPeer): void {
    let decoded;
    try {
      decoded = decodeDatagram(datagram, this.maxText);
    } catch (err) {
      this.stats.malformed++;
      this.log.debug({
        event: 'malformed',
        remote: peerKey(peer),
        code: err instanceof SockitError ? err.code : 'BAD_REQUEST',
      });
      return;
    }
    if (decoded.kind === 'ack') {
      this.acked(decoded.id, peer);
      return;
    }
    if (this.limiter && !this.limiter.take(peer.host)) {
      this.stats.rateLimited++;
      return; // not acked: the sender will try again later
    }
    const contact = this.contactOf(peer);
    if (decoded.kind === 'plain') {
      this.stats.received++;
      this.onMessage?.({
        id: undefined,
        kind: 'plain',
        contact,
        from: undefined,
        peer,
        text: decoded.text,
      });
      return;
    }
    // Ack every copy: the ack of the first may be the one that was lost.
    this.stats.acksSent++;
    this.endpoint.send(encodeAck(decoded.id), peer).catch(() => undefined);
    if (!this.seen.remember(peer, decoded.id)) {
      this.stats.duplicates++;
      return;
    }
    this.stats.received++;
    this.log.info({
      event: 'message',
      id: decoded.id,
      remote: peerKey(peer),
      bytes: datagram.length,
    });
    this.onMessage?.({
      id: decoded.id,
      kind: 'json',
      contact,
      from: decoded.from,
      peer,
      text: decoded.text,
    });
  }
}

/** `alice@127.0.0.1:7196`, or the contact name: how a sender reads (escape before printing). */
export function describeSender(message: IncomingMessage): string {
  if (message.contact !== undefined) return message.contact;
  const address = formatAddress({ kind: 'inet', ...message.peer });
  return message.from !== undefined ? `${message.from}@${address}` : address;
}

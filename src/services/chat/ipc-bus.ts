/**
 * The chat bus of one worker of `sockit serve --workers N` without Redis:
 * every call goes over the IPC channel to the primary's `ChatHub` (hub.ts),
 * which holds what the workers share (message ids and order per room,
 * history, nicks, rosters) and delivers room messages, private messages and
 * presence back to the workers concerned.
 *
 * Every call is asynchronous (one IPC round trip). A call the hub does not
 * answer within `callTimeoutMs`, one past `maxPendingCalls`, or any call
 * once the primary is gone rejects with CLUSTER_UNAVAILABLE, as a Redis bus
 * that cannot reach Redis does: the client that asked gets an error event
 * and may send again. Every message from the hub is checked
 * (ipc-messages.ts) before it is acted on.
 */
import * as v from 'valibot';
import { ServiceError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import type { BusPrivateMessage, BusRoomMessage, ChatBus, ChatBusHandlers } from './bus.js';
import { IpcChannel, parentEndpoint, type IpcEndpoint } from './ipc-channel.js';
import {
  parseHubMessage,
  replySchemas,
  type ReplyValues,
  type WorkerCallBody,
  type WorkerMessageBody,
} from './ipc-messages.js';
import { IPC_CALL_TIMEOUT_MS, IPC_MAX_PENDING_CALLS } from './limits.js';
import { nickKey } from './messages.js';

/** Options of {@link IpcChatBus}. */
export interface IpcChatBusOptions {
  /** The channel to the hub. @default this process's channel to its parent */
  endpoint?: IpcEndpoint;
  /** @default 5 000 */
  callTimeoutMs?: number;
  /** @default 10 000 */
  maxPendingCalls?: number;
  logger?: Logger;
}

/** What an {@link IpcChatBus} counted. */
export interface IpcChatBusStats {
  /** Messages from the hub that did not parse: dropped. */
  malformed: number;
  /** Calls that timed out. */
  timeouts: number;
}

interface Pending {
  kind: keyof ReplyValues;
  resolve: (value: unknown) => void;
  reject: (err: ServiceError) => void;
  timer: NodeJS.Timeout;
}

const unavailable = (why: string): ServiceError =>
  new ServiceError('CLUSTER_UNAVAILABLE', `the chat hub is unreachable (${why}): send again`);

/** Calls that timed out: the hub may still act on them later. */
const timeouts = new WeakSet<ServiceError>();

function timedOut(why: string): ServiceError {
  const err = unavailable(why);
  timeouts.add(err);
  return err;
}

function isTimeout(err: unknown): boolean {
  return err instanceof ServiceError && timeouts.has(err);
}

/** The {@link ChatBus} of a `sockit serve --workers` worker: the primary's hub over IPC. */
export class IpcChatBus implements ChatBus {
  readonly stats: IpcChatBusStats = { malformed: 0, timeouts: 0 };
  private readonly endpoint: IpcEndpoint | undefined;
  private readonly callTimeoutMs: number;
  private readonly maxPending: number;
  private readonly log: Logger;
  private channel: IpcChannel | undefined;
  private handlers: ChatBusHandlers | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Nicks the hub has granted this worker and it has not released (by nickKey). */
  private readonly held = new Set<string>();
  /** Acquires on their way to the hub, per nickKey, and whether one of them timed out. */
  private readonly acquiring = new Map<string, { pending: number; timedOut: boolean }>();
  private lostHub = false;

  constructor(options: IpcChatBusOptions = {}) {
    this.endpoint = options.endpoint;
    this.callTimeoutMs = options.callTimeoutMs ?? IPC_CALL_TIMEOUT_MS;
    this.maxPending = options.maxPendingCalls ?? IPC_MAX_PENDING_CALLS;
    this.log = (options.logger ?? silentLogger).child({ bus: 'ipc' });
  }

  start(handlers: ChatBusHandlers): void {
    this.handlers = handlers;
    this.channel = new IpcChannel(
      this.endpoint ?? parentEndpoint(),
      (raw) => {
        this.receive(raw);
      },
      () => {
        this.hubLost();
      },
    );
  }

  close(): Promise<void> {
    this.handlers = undefined;
    this.channel?.close();
    this.failAll('the bus is closed');
    return Promise.resolve();
  }

  publish(message: Omit<BusRoomMessage, 'id'>): Promise<number> {
    return this.call({ kind: 'publish', message });
  }

  sendPrivate(message: Omit<BusPrivateMessage, 'id'>): Promise<BusPrivateMessage> {
    return this.call({ kind: 'private', message });
  }

  async acquireNick(nick: string): Promise<boolean> {
    const key = nickKey(nick);
    const acquiring = this.acquiring.get(key) ?? { pending: 0, timedOut: false };
    acquiring.pending++;
    this.acquiring.set(key, acquiring);
    try {
      const granted = await this.call({ kind: 'acquire', nick });
      if (granted) this.held.add(key);
      return granted;
    } catch (err) {
      if (isTimeout(err)) acquiring.timedOut = true;
      throw err;
    } finally {
      // The hub may still grant an acquire we gave up on: take it back (in order, on
      // the same channel), or the nick would stay taken by nobody. Only once no other
      // acquire of it is on its way and none was granted: the hub's grants to this
      // worker are one, so a release now would free the nick another session gets.
      if (--acquiring.pending === 0) {
        this.acquiring.delete(key);
        if (acquiring.timedOut && !this.held.has(key)) this.note({ kind: 'release', nick });
      }
    }
  }

  releaseNick(nick: string): void {
    this.held.delete(nickKey(nick));
    this.note({ kind: 'release', nick });
  }

  async join(room: string, nick: string, ts: number): Promise<void> {
    try {
      await this.call({ kind: 'join', room, nick, ts });
    } catch (err) {
      // Likewise a late join would leave a member in the roster that never leaves.
      if (isTimeout(err)) this.note({ kind: 'leave', room, nick, reason: 'quit', ts: Date.now() });
      throw err;
    }
  }

  leave(room: string, nick: string, reason: string, ts: number): void {
    this.note({ kind: 'leave', room, nick, reason, ts });
  }

  renamed(old: string, nick: string, rooms: readonly string[], ts: number): void {
    this.note({ kind: 'renamed', old, nick, rooms: [...rooms], ts });
  }

  roster(room: string): Promise<string[]> {
    return this.call({ kind: 'roster', room });
  }

  history(room: string, limit: number): Promise<BusRoomMessage[]> {
    return this.call({ kind: 'history', room, limit });
  }

  // ---- inside ----------------------------------------------------------

  private call<K extends keyof ReplyValues>(
    body: Omit<Extract<WorkerCallBody, { kind: K }>, 'id'> & { kind: K },
  ): Promise<ReplyValues[K]> {
    const channel = this.channel;
    if (channel === undefined || !channel.open) {
      return Promise.reject(unavailable(this.lostHub ? 'the primary is gone' : 'not started'));
    }
    if (this.pending.size >= this.maxPending) {
      return Promise.reject(unavailable(`${this.maxPending} calls are waiting already`));
    }
    const id = this.nextId++;
    return new Promise<ReplyValues[K]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.stats.timeouts++;
        this.log.warn({ event: 'ipc_call_timeout', kind: body.kind, ms: this.callTimeoutMs });
        reject(timedOut(`no answer within ${this.callTimeoutMs} ms`));
      }, this.callTimeoutMs);
      timer.unref();
      this.pending.set(id, {
        kind: body.kind,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer,
      });
      if (!channel.send({ ...body, id })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(unavailable('the channel is closed'));
      }
    });
  }

  /** A message that needs no answer; dropped if the channel is gone (the hub cleans up after a lost worker). */
  private note(body: WorkerMessageBody): void {
    this.channel?.send(body);
  }

  private receive(raw: unknown): void {
    const m = parseHubMessage(raw);
    if (m === undefined) {
      this.malformed(raw);
      return;
    }
    switch (m.kind) {
      case 'reply': {
        const p = this.settle(m.id);
        if (p === undefined) return;
        const value = v.safeParse(replySchemas[p.kind], m.value);
        if (value.success) p.resolve(value.output);
        else {
          this.malformed(raw);
          p.reject(unavailable(`a malformed ${p.kind} answer`));
        }
        return;
      }
      case 'fail':
        this.settle(m.id)?.reject(new ServiceError(m.code, m.message));
        return;
      case 'message':
        this.handlers?.message(m.message);
        return;
      case 'private':
        this.handlers?.private(m.message);
        return;
      case 'presence':
        this.handlers?.presence(m.event);
        return;
    }
  }

  /** The pending call `id`, taken out (undefined if it timed out meanwhile). */
  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.pending.delete(id);
    clearTimeout(p.timer);
    return p;
  }

  private malformed(raw: unknown): void {
    this.stats.malformed++;
    const kind = (raw as { kind?: unknown }).kind;
    this.log.warn({ event: 'ipc_bad_message', kind: typeof kind === 'string' ? kind : undefined });
  }

  private hubLost(): void {
    this.lostHub = true;
    this.failAll('the primary is gone');
    this.log.warn({ event: 'ipc_hub_lost' });
    this.handlers?.state('down');
  }

  private failAll(why: string): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(unavailable(why));
    }
  }
}

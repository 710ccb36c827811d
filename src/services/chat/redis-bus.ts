/**
 * The chat bus over Redis (docs/CLUSTER.md): several sockit nodes, one chat.
 *
 * - Room messages: a stream per room (`XADD MAXLEN ~`); every node reads the
 *   rooms it has members in (redis-reader.ts). The stream id is the message
 *   id and the room's one order; history on join is the stream's tail.
 * - Nicks: a lease per nick (`SET NX PX`), renewed while held, released by a
 *   script that checks it is still ours (redis-scripts.ts).
 * - Presence: each node's members in a set and per-room rosters, a heartbeat
 *   key per node; a node whose heartbeat lapses is reaped by another, which
 *   says `left` for its members. News goes through one presence stream.
 * - Private messages: to the inbox stream of the node holding the nick.
 *
 * While Redis cannot be reached every call that needs it rejects with
 * CLUSTER_UNAVAILABLE; the clients reconnect with backoff, and on each
 * reconnect this node puts its leases, members and heartbeat back (Redis may
 * have restarted empty) before it says it is up again.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ServiceError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import type { BusPrivateMessage, BusRoomMessage, ChatBus, ChatBusHandlers } from './bus.js';
import {
  CLUSTER_EVENT_STREAM_LENGTH,
  CLUSTER_MAX_BACKOFF_MS,
  DEFAULT_CLUSTER_HEARTBEAT_MS,
  DEFAULT_CLUSTER_NICK_TTL_MS,
  DEFAULT_CLUSTER_STREAM_LENGTH,
} from './limits.js';
import { escapeText, nickKey } from './messages.js';
import * as entries from './redis-entries.js';
import { RedisKeys, type RawEntry } from './redis-entries.js';
import { StreamReader } from './redis-reader.js';
import { RedisSink } from './redis-sink.js';
import { GoneMembers } from './redis-gone.js';
import { addGoodbye, restoreMembers } from './redis-rebuild.js';
import { RELEASE_LEASE } from './redis-scripts.js';
import { addPresence, addWake, heartbeat, redisOptions, renewLeases } from './redis-upkeep.js';

/** Options of {@link RedisChatBus}: where Redis is, and the cluster's timers. */
export interface RedisChatBusOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). */
  url: string;
  /** Overrides a password in the URL (e.g. read from a file). */
  password?: string;
  /** Nick lease TTL (ms). @default 15 000 */
  nickTtlMs?: number;
  /** Heartbeat (ms); a node silent for 3 of them is dead. @default 2 000 */
  heartbeatMs?: number;
  /** Entries kept per room stream. @default 1 000 */
  streamLength?: number;
  /** Key prefix, so several chats can share one Redis. @default 'sockit:chat:' */
  prefix?: string;
  logger?: Logger;
}

/** What a {@link RedisChatBus} counted. */
export interface RedisChatBusStats {
  /** Entries in Redis that were not ours to deliver (foreign or malformed): skipped. */
  malformed: number;
  /** Times the bus came back after Redis was unreachable. */
  recovered: number;
}

/** `redis://host:port/db` without user or password, for messages and logs. */
function redisDisplay(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return 'an invalid URL';
  }
}

const unavailable = (why: string): ServiceError =>
  new ServiceError('CLUSTER_UNAVAILABLE', `the chat cluster is unreachable (${why}): send again`);

/**
 * The {@link ChatBus} of a chat that spans nodes: give one to each node's
 * `ChatServer` (`new ChatServer({ bus: new RedisChatBus({ url }) })`), all
 * on the same Redis, and they are one chat (docs/CLUSTER.md).
 */
export class RedisChatBus implements ChatBus {
  /** This node's id in Redis (random per process). */
  readonly node = randomBytes(8).toString('hex');
  readonly stats: RedisChatBusStats = { malformed: 0, recovered: 0 };
  private readonly keys: RedisKeys;
  private readonly ttlMs: number;
  private readonly heartbeatMs: number;
  private readonly streamLength: number;
  private readonly log: Logger;
  private handlers: ChatBusHandlers | undefined;
  private cmd: Redis | undefined;
  private reader: StreamReader | undefined;
  private up = false;
  private closed = false;
  private timers: NodeJS.Timeout[] = [];
  /** Leases held: nick key → the value set. */
  private readonly held = new Map<string, string>();
  /** Who is in which room on this node (nicks as spelled). */
  private readonly local = new Map<string, Set<string>>();
  /** Members who left while Redis could not be told: taken out of the rosters once it can. */
  private readonly gone: GoneMembers;
  /** Nick keys whose lease another node has now, while their local holder is being cut off. */
  private readonly losing = new Set<string>();
  private readonly sink: RedisSink;

  constructor(private readonly options: RedisChatBusOptions) {
    this.keys = new RedisKeys(options.prefix ?? 'sockit:chat:');
    this.ttlMs = options.nickTtlMs ?? DEFAULT_CLUSTER_NICK_TTL_MS;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_CLUSTER_HEARTBEAT_MS;
    this.streamLength = options.streamLength ?? DEFAULT_CLUSTER_STREAM_LENGTH;
    this.log = (options.logger ?? silentLogger).child({ bus: 'redis', node: this.node });
    this.sink = new RedisSink(this.keys, this.node, this.stats, this.log);
    this.gone = new GoneMembers(
      this.keys,
      this.node,
      (room, nick) => this.local.get(room)?.has(nick) === true,
      this.log,
    );
  }

  async start(handlers: ChatBusHandlers): Promise<void> {
    this.handlers = handlers;
    this.sink.handlers = handlers;
    // Loaded only when a cluster is asked for: a lone chat server does not pay for the client.
    const { Redis } = await import('ioredis');
    const cmd = new Redis(this.options.url, redisOptions(this.options.password, true));
    const readerRedis = new Redis(this.options.url, redisOptions(this.options.password, false));
    let lastError: string | undefined;
    for (const r of [cmd, readerRedis]) {
      r.on('error', (err: Error) => {
        lastError = err.message;
        this.log.debug({ event: 'redis_error', err: err.message });
      });
    }
    this.cmd = cmd;
    try {
      await Promise.all([cmd.connect(), readerRedis.connect()]);
      this.reader = new StreamReader(readerRedis, this.readerKeys(), this.sink, this.log);
      const last = (await cmd.call('XREVRANGE', this.keys.presence, '+', '-', 'COUNT', 1)) as
        RawEntry[] | null;
      this.reader.presenceId = last?.[0]?.[0] ?? '0-0';
      await this.rebuild();
    } catch (err) {
      cmd.disconnect();
      readerRedis.disconnect();
      // ioredis rejects with "Connection is closed."; the 'error' event said why.
      throw new ServiceError(
        'CLUSTER_UNAVAILABLE',
        `cannot reach the chat cluster's Redis at ${redisDisplay(this.options.url)}: ${lastError ?? (err as Error).message}`,
      );
    }
    this.up = true;
    cmd.on('close', () => {
      this.setUp(false);
      this.reader?.hold(); // reads on once the rebuild has settled the leases
    });
    cmd.on('ready', () => {
      this.rebuildUntilUp(cmd, 0);
    });
    this.reader.start();
    this.every(this.heartbeatMs, () => this.heartbeat());
    this.every(Math.max(1, Math.floor(this.ttlMs / 3)), () => this.renew());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.handlers = undefined;
    this.sink.handlers = undefined;
    const cmd = this.cmd;
    if (cmd !== undefined && this.up) {
      const pipe = cmd.pipeline();
      addGoodbye(pipe, this.keys, this.node, this.held, this.local);
      await pipe.exec().catch(() => undefined);
    }
    await this.reader?.close();
    cmd?.disconnect();
  }

  async publish(message: Omit<BusRoomMessage, 'id'>): Promise<number> {
    const streamId = await this.call(() =>
      this.redis().xadd(
        this.keys.room(message.room),
        'MAXLEN',
        '~',
        this.streamLength,
        '*',
        ...entries.roomFields(message),
      ),
    );
    const id = streamId === null ? undefined : entries.messageIdOf(streamId);
    if (id === undefined) throw unavailable(`stream id ${String(streamId)}`);
    return id;
  }

  async sendPrivate(message: Omit<BusPrivateMessage, 'id'>): Promise<BusPrivateMessage> {
    const lease = entries.parseLease(
      await this.call(() => this.redis().get(this.keys.nick(nickKey(message.to)))),
    );
    if (lease === undefined) {
      throw new ServiceError(
        'NO_SUCH_NICK',
        `nobody is called "${escapeText(message.to.slice(0, 40))}"`,
      );
    }
    const sent = { ...message, to: lease.nick };
    const streamId = await this.call(() =>
      this.redis().xadd(
        this.keys.inbox(lease.node),
        'MAXLEN',
        '~',
        CLUSTER_EVENT_STREAM_LENGTH,
        '*',
        ...entries.privateFields(sent),
      ),
    );
    const id = streamId === null ? undefined : entries.messageIdOf(streamId);
    if (id === undefined) throw unavailable(`stream id ${String(streamId)}`);
    return { id, ...sent };
  }

  async acquireNick(nick: string): Promise<boolean> {
    const key = nickKey(nick);
    if (this.held.has(key)) return true;
    const value = entries.leaseValue(this.node, randomBytes(8).toString('hex'), nick);
    const ok = await this.call(() =>
      this.redis().set(this.keys.nick(key), value, 'PX', this.ttlMs, 'NX'),
    );
    if (ok !== 'OK') return false;
    this.held.set(key, value);
    return true;
  }

  releaseNick(nick: string): void {
    const key = nickKey(nick);
    const value = this.held.get(key);
    if (value === undefined) return;
    this.held.delete(key);
    this.quietly(this.cmd?.eval(RELEASE_LEASE, 1, this.keys.nick(key), value));
  }

  async join(room: string, nick: string, ts: number): Promise<void> {
    const pipe = this.redis().pipeline();
    pipe.zadd(this.keys.roster(room), 'NX', ts, nick);
    pipe.sadd(this.keys.members(this.node), entries.memberValue(room, nick));
    addPresence(pipe, this.keys, this.node, { type: 'joined', room, nick, ts });
    pipe.call('XREVRANGE', this.keys.room(room), '+', '-', 'COUNT', 1);
    if (!this.reader?.rooms.has(room)) addWake(pipe, this.keys, this.node);
    const results = await this.call(() => pipe.exec());
    const refused = results?.find(([err]) => err !== null)?.[0];
    if (refused !== null && refused !== undefined) {
      // Redis answered but refused a write (OOM, READONLY): undo what it took, and the
      // client is told, as when Redis is unreachable (deletes are taken under OOM).
      const undo = this.redis().pipeline();
      if (results?.[0]?.[1] === 1) undo.zrem(this.keys.roster(room), nick);
      undo.srem(this.keys.members(this.node), entries.memberValue(room, nick));
      this.quietly(undo.exec());
      throw unavailable(refused.message);
    }
    const last = results?.[3]?.[1] as RawEntry[] | null | undefined;
    let nicks = this.local.get(room);
    if (nicks === undefined) {
      nicks = new Set();
      this.local.set(room, nicks);
    }
    nicks.add(nick);
    const from = last?.[0]?.[0] ?? '0-0';
    if (!this.reader?.rooms.has(room)) {
      this.reader?.add(room, from);
      this.sink.delivered.set(room, entries.messageIdOf(from) ?? 0);
    }
  }

  leave(room: string, nick: string, reason: string, ts: number): void {
    const nicks = this.local.get(room);
    nicks?.delete(nick);
    if (nicks?.size === 0) {
      this.local.delete(room);
      this.reader?.drop(room);
      this.sink.delivered.delete(room);
    }
    // A holder cut off because its nick went to another node: the roster entry and the
    // nick are the new holder's now; only this node's own member record goes.
    const lost = this.losing.has(nickKey(nick));
    if (this.cmd === undefined || !this.up) {
      // The rebuild after a reconnect does not put it back, and takes it out of the roster.
      if (!lost) this.gone.add(room, nick, reason, ts);
      return;
    }
    const pipe = this.cmd.pipeline();
    pipe.srem(this.keys.members(this.node), entries.memberValue(room, nick));
    if (lost) {
      this.quietly(pipe.exec());
      return;
    }
    pipe.zrem(this.keys.roster(room), nick);
    addPresence(pipe, this.keys, this.node, { type: 'left', room, nick, reason, ts });
    // Up as far as this node knew, but the connection was already silent (the reset
    // that follows discards it, and the rebuild says it instead), or Redis refused it
    // (OOM, READONLY: the next heartbeat tries again).
    const failed = (err?: unknown): void => {
      this.abort(err);
      this.log.warn({
        event: 'cluster_leave_failed',
        room,
        err: (err as Error | undefined)?.message,
      });
      this.gone.add(room, nick, reason, ts);
    };
    pipe.exec().then((results) => {
      const err = results?.find(([e]) => e !== null)?.[0];
      if (err !== undefined) failed(err);
    }, failed);
  }

  renamed(old: string, nick: string, rooms: readonly string[], ts: number): void {
    for (const room of rooms) {
      const nicks = this.local.get(room);
      if (nicks?.delete(old) === true) nicks.add(nick);
    }
    if (this.cmd === undefined || !this.up) return;
    const pipe = this.cmd.pipeline();
    for (const room of rooms) {
      pipe.zrem(this.keys.roster(room), old);
      pipe.zadd(this.keys.roster(room), ts, nick);
      pipe.srem(this.keys.members(this.node), entries.memberValue(room, old));
      pipe.sadd(this.keys.members(this.node), entries.memberValue(room, nick));
    }
    addPresence(pipe, this.keys, this.node, { type: 'nick', old, nick, rooms, ts });
    this.quietly(pipe.exec());
  }

  async roster(room: string): Promise<string[]> {
    return this.call(() => this.redis().zrange(this.keys.roster(room), 0, -1));
  }

  async history(room: string, limit: number): Promise<BusRoomMessage[]> {
    const count = Math.min(limit, this.streamLength);
    if (count <= 0) return [];
    const raw = (await this.call(() =>
      this.redis().call('XREVRANGE', this.keys.room(room), '+', '-', 'COUNT', count),
    )) as RawEntry[] | null;
    const out: BusRoomMessage[] = [];
    for (const entry of (raw ?? []).reverse()) {
      const m = entries.parseRoomEntry(room, entry);
      if (m === undefined) this.sink.malformed(this.keys.room(room), entry[0]);
      else out.push(m);
    }
    return out;
  }

  // ---- inside ----------------------------------------------------------

  private redis(): Redis {
    if (this.cmd === undefined || !this.up) throw unavailable('Redis is not connected');
    return this.cmd;
  }

  /** Runs a Redis call; any failure of it is CLUSTER_UNAVAILABLE. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ServiceError) throw err;
      this.abort(err);
      throw unavailable((err as Error).message);
    }
  }

  private quietly(p: Promise<unknown> | undefined): void {
    p?.catch((err: unknown) => {
      this.abort(err);
      this.log.debug({ event: 'redis_failed', err: (err as Error).message });
    });
  }

  /**
   * Rebuilds leases, members and heartbeat after a reconnect, and only then
   * reads on and says the cluster is back. A rebuild that fails on a live
   * connection (OOM under maxmemory, READONLY after a failover, NOPERM) is
   * tried again with backoff: no new 'ready' would come to retry it.
   */
  private rebuildUntilUp(cmd: Redis, attempt: number): void {
    if (this.closed || this.up) return;
    void this.rebuild().then(
      () => {
        this.reader?.release();
        this.setUp(true);
        // One who left in the turn between the rebuild's end and now.
        this.quietly(this.gone.settle(cmd));
      },
      (err: unknown) => {
        this.abort(err);
        this.log.warn({ event: 'cluster_rebuild_failed', err: (err as Error).message, attempt });
        const timer = setTimeout(
          () => {
            this.timers = this.timers.filter((t) => t !== timer);
            if (cmd.status === 'ready') this.rebuildUntilUp(cmd, attempt + 1);
          },
          Math.min(50 * 2 ** Math.min(attempt, 10), CLUSTER_MAX_BACKOFF_MS),
        );
        timer.unref();
        this.timers.push(timer);
      },
    );
  }

  /**
   * A command timed out: the connection has gone silent (a network that
   * drops packets closes nothing by itself), so this node resets it. The
   * 'close' that follows makes it down (its users are told) and ioredis
   * reconnects with backoff; the reconnect rebuilds. A reset, not a close:
   * the kernel would go on sending what is still unsent in the socket (a
   * say already refused to its sender with CLUSTER_UNAVAILABLE) once the
   * network heals; a reset discards it. (A TLS socket cannot be reset: it
   * is closed, and a refused say may then still arrive.)
   */
  private abort(err: unknown): void {
    if (!(err instanceof Error) || err.message !== 'Command timed out') return;
    const stream = this.cmd?.stream;
    if (stream === undefined || stream.destroyed || this.closed) return;
    this.log.warn({ event: 'cluster_connection_reset', why: 'a Redis command timed out' });
    try {
      stream.resetAndDestroy();
    } catch {
      stream.destroy();
    }
  }

  private setUp(up: boolean): void {
    if (this.closed || this.up === up) return;
    this.up = up;
    if (up) this.stats.recovered++;
    this.handlers?.state(up ? 'up' : 'down');
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const timer = setInterval(() => {
      if (this.up && !this.closed) this.quietly(fn());
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private readerKeys(): { room: (room: string) => string; presence: string; inbox: string } {
    return {
      room: (room) => this.keys.room(room),
      presence: this.keys.presence,
      inbox: this.keys.inbox(this.node),
    };
  }

  /**
   * Puts this node back in Redis after it could not reach it (Redis
   * restarted empty, or this node was cut off): first its leases — one
   * another node took meanwhile is lost, and its local holder cut off
   * (NICK_TAKEN) before anything else is said — then its heartbeat, its
   * members (exactly those it has now) and their rosters. If another node
   * reaped it meanwhile (the others saw its members leave, `node_lost`), it
   * says `joined` for each again; members who left meanwhile leave the
   * rosters now, with `left`.
   */
  private async rebuild(): Promise<void> {
    const cmd = this.cmd;
    if (cmd === undefined || this.closed) return;
    await this.renewWith(cmd);
    await restoreMembers(cmd, this.keys, this.node, this.heartbeatMs, this.local, this.log);
    // Those who leave while this runs (the bus is still down) are settled too: it loops.
    await this.gone.settle(cmd);
  }

  private async heartbeat(): Promise<void> {
    const cmd = this.redis();
    for (const lost of await heartbeat(cmd, this.keys, this.node, this.heartbeatMs)) {
      this.log.info({ event: 'cluster_node_lost', dead: lost.node, members: lost.members });
    }
    // Leaves Redis refused while the connection stayed up: no rebuild comes for them.
    await this.gone.settle(cmd);
  }

  private async renewWith(cmd: Redis): Promise<void> {
    for (const [key, value] of await renewLeases(cmd, this.keys, this.held, this.ttlMs)) {
      if (this.held.get(key) !== value) continue; // released meanwhile
      this.held.delete(key);
      const nick = value.split(':')[2] ?? key;
      this.log.warn({ event: 'cluster_nick_lost', nick });
      this.losing.add(key);
      try {
        this.handlers?.nickLost(nick);
      } finally {
        this.losing.delete(key);
      }
    }
  }

  private renew(): Promise<void> {
    return this.renewWith(this.redis());
  }
}

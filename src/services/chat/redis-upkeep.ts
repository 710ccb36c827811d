/**
 * What the Redis chat bus does on its timers: the heartbeat that says this
 * node is alive (and reaps the nodes that stopped saying so), and the
 * renewal of its nick leases. Also the stream appends several calls share.
 */
import type { ChainableCommander, Redis, RedisOptions } from 'ioredis';
import type { BusPresenceEvent } from './bus.js';
import {
  CLUSTER_COMMAND_TIMEOUT_MS,
  CLUSTER_EVENT_STREAM_LENGTH,
  CLUSTER_HEARTBEAT_MISSES,
  CLUSTER_MAX_BACKOFF_MS,
  CLUSTER_READ_BLOCK_MS,
  CLUSTER_REAPED_MARK_MS,
} from './limits.js';
import { WAKE_FIELDS, nodeOk, presenceFields, type RedisKeys } from './redis-entries.js';
import { REAP_NODE, RENEW_LEASES } from './redis-scripts.js';

/**
 * Client options: fail at once rather than queue while disconnected (a send
 * is refused with CLUSTER_UNAVAILABLE, never held), reconnect with backoff.
 * The command connection times commands out and pipelines what is sent in
 * one event-loop turn as one write (a sender's burst of says is one system
 * call, not one each; order is kept); the reader's XREAD blocks.
 *
 * A network that silently drops packets (a cut cable, a firewall) never
 * closes a TCP connection by itself: without a deadline a node cut off from
 * Redis would never see `close`, never tell its users the cluster is down,
 * and never reconnect and rebuild when the network heals. The reader drops
 * its connection when an XREAD is unanswered past its block and the command
 * timeout (`socketTimeout`; a read lost in flight changes nothing); the
 * command connection is reset by the bus when a command times out
 * (redis-bus.ts: `abort`), not closed, so that what is still unsent in it
 * is discarded rather than delivered after the heal.
 */
// Inferred, not annotated RedisOptions: under exactOptionalPropertyTypes
// ioredis's own RedisOptions is not assignable to its constructor's parameter.
export function redisOptions(password: string | undefined, timeout: boolean) {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: CLUSTER_COMMAND_TIMEOUT_MS,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), CLUSTER_MAX_BACKOFF_MS),
    ...(timeout
      ? { commandTimeout: CLUSTER_COMMAND_TIMEOUT_MS, enableAutoPipelining: true }
      : { socketTimeout: CLUSTER_READ_BLOCK_MS + CLUSTER_COMMAND_TIMEOUT_MS }),
    ...(password !== undefined ? { password } : {}),
  } satisfies RedisOptions;
}

/** Adds a presence entry from `node` to a pipeline. */
export function addPresence(
  pipe: ChainableCommander,
  keys: RedisKeys,
  node: string,
  event: BusPresenceEvent,
): void {
  pipe.xadd(
    keys.presence,
    'MAXLEN',
    '~',
    CLUSTER_EVENT_STREAM_LENGTH,
    '*',
    ...presenceFields(node, event),
  );
}

/** Adds a wake-up to `node`'s inbox: its blocked XREAD returns and reads the rooms it has now. */
export function addWake(pipe: ChainableCommander, keys: RedisKeys, node: string): void {
  pipe.xadd(keys.inbox(node), 'MAXLEN', '~', CLUSTER_EVENT_STREAM_LENGTH, '*', ...WAKE_FIELDS);
}

/** Adds "this node is alive" to a pipeline. */
export function addHeartbeat(
  pipe: ChainableCommander,
  keys: RedisKeys,
  node: string,
  heartbeatMs: number,
): void {
  const timeout = heartbeatMs * CLUSTER_HEARTBEAT_MISSES;
  pipe.set(keys.alive(node), '1', 'PX', timeout);
  pipe.sadd(keys.nodes, node);
  // What a node leaves behind goes away by itself, reaped or not.
  pipe.pexpire(keys.members(node), timeout * 10);
  pipe.pexpire(keys.inbox(node), timeout * 10);
}

/**
 * Says this node is alive, and reaps the nodes whose heartbeat key lapsed
 * (exactly one node reaps each: REAP_NODE). Returns the nodes it reaped,
 * with how many members each had.
 */
export async function heartbeat(
  cmd: Redis,
  keys: RedisKeys,
  node: string,
  heartbeatMs: number,
): Promise<{ node: string; members: number }[]> {
  const pipe = cmd.pipeline();
  addHeartbeat(pipe, keys, node, heartbeatMs);
  pipe.smembers(keys.nodes);
  const results = await pipe.exec();
  const nodes = (results?.at(-1)?.[1] as string[] | undefined) ?? [];
  const others = nodes.filter((n) => n !== node && nodeOk(n));
  const alive = await Promise.all(others.map((n) => cmd.exists(keys.alive(n))));
  const reaped: { node: string; members: number }[] = [];
  for (const [i, dead] of others.entries()) {
    if (alive[i] !== 0) continue;
    const members = (await cmd.eval(
      REAP_NODE,
      5,
      keys.nodes,
      keys.members(dead),
      keys.presence,
      keys.alive(dead),
      keys.reaped(dead),
      dead,
      keys.prefix,
      CLUSTER_EVENT_STREAM_LENGTH,
      Date.now(),
      CLUSTER_REAPED_MARK_MS,
    )) as number;
    if (members !== -1) reaped.push({ node: dead, members });
  }
  return reaped;
}

/**
 * Renews the leases in `held` (nick key → value); one that is gone is taken
 * again, one someone else holds now is lost. Returns the lost ones' keys.
 */
export async function renewLeases(
  cmd: Redis,
  keys: RedisKeys,
  held: ReadonlyMap<string, string>,
  ttlMs: number,
): Promise<[key: string, value: string][]> {
  const all = [...held];
  const lost: [string, string][] = [];
  for (let at = 0; at < all.length; at += 256) {
    const batch = all.slice(at, at + 256);
    const indexes = (await cmd.eval(
      RENEW_LEASES,
      batch.length,
      ...batch.map(([key]) => keys.nick(key)),
      ttlMs,
      ...batch.map(([, value]) => value),
    )) as number[];
    for (const i of indexes) {
      const entry = batch[i - 1];
      if (entry !== undefined) lost.push(entry);
    }
  }
  return lost;
}

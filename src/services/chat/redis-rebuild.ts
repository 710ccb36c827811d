/**
 * What a Redis chat node writes when it comes back and when it leaves
 * (redis-bus.ts): its members and heartbeat put back after Redis restarted
 * empty or the node was cut off, and its goodbye when it closes cleanly.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { Logger } from '../../log.js';
import { memberValue, type RedisKeys } from './redis-entries.js';
import { RELEASE_LEASE } from './redis-scripts.js';
import { addHeartbeat, addPresence } from './redis-upkeep.js';

/** Who is in which room on one node (nicks as spelled). */
export type LocalMembers = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * Puts `node`'s heartbeat, its members (exactly `local`) and their rosters
 * back, in one transaction. If another node reaped it meanwhile (the others
 * saw its members leave, `node_lost`), it says `joined` for each again.
 */
export async function restoreMembers(
  cmd: Redis,
  keys: RedisKeys,
  node: string,
  heartbeatMs: number,
  local: LocalMembers,
  log: Logger,
): Promise<void> {
  const ts = Date.now();
  const pipe = cmd.multi();
  pipe.getdel(keys.reaped(node));
  addHeartbeat(pipe, keys, node, heartbeatMs);
  pipe.del(keys.members(node));
  for (const [room, nicks] of local) {
    for (const nick of nicks) {
      pipe.zadd(keys.roster(room), 'NX', ts, nick);
      pipe.sadd(keys.members(node), memberValue(room, nick));
    }
  }
  const results = await pipe.exec();
  const reaped = results?.[0]?.[1] !== null && results?.[0]?.[1] !== undefined;
  if (!reaped) return;
  log.info({ event: 'cluster_rejoined', after: 'reaped' });
  const after = cmd.pipeline();
  for (const [room, nicks] of local) {
    for (const nick of nicks) addPresence(after, keys, node, { type: 'joined', room, nick, ts });
  }
  await after.exec();
}

/**
 * Adds a clean goodbye to `pipe`: `node`'s leases released (if still its),
 * its members out of the rosters with `left` (`quit`), its records gone, so
 * the others see them leave now, not after the heartbeat timeout.
 */
export function addGoodbye(
  pipe: ChainableCommander,
  keys: RedisKeys,
  node: string,
  held: ReadonlyMap<string, string>,
  local: LocalMembers,
): void {
  const ts = Date.now();
  for (const [key, value] of held) pipe.eval(RELEASE_LEASE, 1, keys.nick(key), value);
  for (const [room, nicks] of local) {
    for (const nick of nicks) {
      pipe.zrem(keys.roster(room), nick);
      addPresence(pipe, keys, node, { type: 'left', room, nick, reason: 'quit', ts });
    }
  }
  pipe.srem(keys.nodes, node);
  pipe.del(keys.members(node), keys.alive(node), keys.inbox(node));
}

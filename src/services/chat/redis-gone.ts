/**
 * Members of this node who left while Redis could not be told (redis-bus.ts):
 * it was unreachable, or it answered but refused the writes (OOM under
 * maxmemory, READONLY after a failover). Each is remembered once (by room and
 * nick, at most CLUSTER_MAX_GONE) and taken out of its room's roster, with a
 * `left` event, as soon as Redis takes writes again: by the rebuild after a
 * reconnect, or on the next heartbeat of a connection that never dropped.
 */
import type { Redis } from 'ioredis';
import { ServiceError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { CLUSTER_EVENT_STREAM_LENGTH, CLUSTER_MAX_GONE } from './limits.js';
import { nickKey } from './messages.js';
import { memberValue, type RedisKeys } from './redis-entries.js';
import { LEFT_WHILE_DOWN } from './redis-scripts.js';

interface Gone {
  room: string;
  nick: string;
  reason: string;
  ts: number;
}

export class GoneMembers {
  private readonly gone = new Map<string, Gone>();
  /** Forgotten because the bound was reached. */
  forgotten = 0;

  constructor(
    private readonly keys: RedisKeys,
    private readonly node: string,
    /** Whether `nick` is in `room` on this node again (then nothing is to be undone). */
    private readonly isHere: (room: string, nick: string) => boolean,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.gone.size;
  }

  add(room: string, nick: string, reason: string, ts: number): void {
    const key = memberValue(room, nick);
    this.gone.delete(key); // the latest leave, at the end of the order
    this.gone.set(key, { room, nick, reason, ts });
    if (this.gone.size <= CLUSTER_MAX_GONE) return;
    const [oldest] = this.gone.keys();
    if (oldest === undefined) return;
    this.gone.delete(oldest);
    this.forgotten++;
    this.log.warn({ event: 'cluster_gone_forgotten', member: oldest, bound: CLUSTER_MAX_GONE });
  }

  /**
   * Tells Redis about every one of them, until none is left (members who
   * leave while it is being told are told too). Rejects with Redis's error
   * if it refuses any: those are kept for the next try. Nothing to tell: no round trip.
   */
  async settle(cmd: Redis): Promise<void> {
    while (this.gone.size > 0) {
      const pipe = cmd.pipeline();
      const sent: [string, Gone][] = [];
      for (const [key, g] of this.gone) {
        if (this.isHere(g.room, g.nick)) {
          this.gone.delete(key); // back in it
          continue;
        }
        sent.push([key, g]);
        pipe.srem(this.keys.members(this.node), key);
        pipe.eval(
          LEFT_WHILE_DOWN,
          3,
          this.keys.roster(g.room),
          this.keys.nick(nickKey(g.nick)),
          this.keys.presence,
          this.node,
          g.room,
          g.nick,
          g.reason,
          g.ts,
          CLUSTER_EVENT_STREAM_LENGTH,
        );
      }
      if (sent.length === 0) return;
      const results = await pipe.exec();
      if (results === null || results.length < 2 * sent.length) {
        throw new ServiceError('CLUSTER_UNAVAILABLE', 'Redis answered a pipeline short');
      }
      let refused: Error | undefined;
      sent.forEach(([key, g], i) => {
        const err = results[2 * i]?.[0] ?? results[2 * i + 1]?.[0];
        if (err !== null && err !== undefined) refused ??= err;
        else if (this.gone.get(key) === g) this.gone.delete(key);
      });
      if (refused !== undefined) throw refused;
    }
  }
}

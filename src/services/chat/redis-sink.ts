/**
 * What the Redis bus's reader hands on, checked and turned into bus
 * deliveries: room messages once each (a message id not newer than the last
 * one handed on for its room is a duplicate, dropped), presence from other
 * nodes, private messages for this node. An entry that does not parse is
 * skipped, counted and logged, never delivered.
 */
import type { Logger } from '../../log.js';
import type { ChatBusHandlers } from './bus.js';
import {
  parseInboxEntry,
  parsePresenceEntry,
  parseRoomEntry,
  type RawEntry,
  type RedisKeys,
} from './redis-entries.js';
import type { ReaderSink } from './redis-reader.js';

export class RedisSink implements ReaderSink {
  /** Last message id handed on per room read. */
  readonly delivered = new Map<string, number>();
  handlers: ChatBusHandlers | undefined;

  constructor(
    private readonly keys: RedisKeys,
    private readonly node: string,
    private readonly stats: { malformed: number },
    private readonly log: Logger,
  ) {}

  room(room: string, list: RawEntry[]): void {
    for (const entry of list) {
      const m = parseRoomEntry(room, entry);
      if (m === undefined) {
        this.malformed(this.keys.room(room), entry[0]);
        continue;
      }
      if (m.id <= (this.delivered.get(room) ?? 0)) continue; // seen already
      this.delivered.set(room, m.id);
      this.handlers?.message(m);
    }
  }

  presence(list: RawEntry[]): void {
    for (const entry of list) {
      const p = parsePresenceEntry(entry);
      if (p === undefined) this.malformed(this.keys.presence, entry[0]);
      else if (p.node !== this.node) this.handlers?.presence(p.event);
    }
  }

  inbox(list: RawEntry[]): void {
    for (const entry of list) {
      const e = parseInboxEntry(entry);
      if (e === undefined) this.malformed(this.keys.inbox(this.node), entry[0]);
      else if (e.type === 'private') this.handlers?.private(e.message);
    }
  }

  malformed(key: string, why: string): void {
    this.stats.malformed++;
    this.log.warn({ event: 'cluster_bad_entry', key, why: why.slice(0, 80) });
  }
}

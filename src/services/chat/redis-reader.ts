/**
 * The Redis bus's one reading loop: `XREAD BLOCK` over the streams of every
 * room this node has members in, the presence stream and this node's inbox,
 * each from the last id it has handed on. A node that reconnects (Redis
 * restarted, the network came back) reads on from those ids, so nothing is
 * delivered twice and nothing after them is missed; a room joined while the
 * read blocks is picked up when the bus wakes it (an entry in the inbox).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../log.js';
import { CLUSTER_MAX_BACKOFF_MS, CLUSTER_READ_BLOCK_MS, CLUSTER_READ_COUNT } from './limits.js';
import type { RawEntry } from './redis-entries.js';

export interface ReaderSink {
  room(room: string, entries: RawEntry[]): void;
  presence(entries: RawEntry[]): void;
  inbox(entries: RawEntry[]): void;
  /** A reply that is not what XREAD returns: counted and logged as malformed. */
  malformed(key: string, why: string): void;
}

/** Orders two stream ids `ms-seq` (either may be `0-0`). */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

function isEntry(e: unknown): e is RawEntry {
  return (
    Array.isArray(e) &&
    e.length === 2 &&
    typeof e[0] === 'string' &&
    Array.isArray(e[1]) &&
    (e[1] as unknown[]).every((f) => typeof f === 'string')
  );
}

export class StreamReader {
  /** Rooms read, each with the id of the last entry handed on. */
  readonly rooms = new Map<string, string>();
  presenceId = '0-0';
  inboxId = '0-0';
  private closed = false;
  private held = false;
  private onRelease: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: {
      room: (room: string) => string;
      presence: string;
      inbox: string;
    },
    private readonly sink: ReaderSink,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Starts reading a room after `fromId` (if it is not read already). */
  add(room: string, fromId: string): void {
    if (!this.rooms.has(room)) this.rooms.set(room, fromId);
  }

  drop(room: string): void {
    this.rooms.delete(room);
  }

  /**
   * Stops reading until {@link release}, and drops the reader's connection
   * for a new one (reading on from the same ids): the command connection
   * found Redis unreachable, and a silently cut connection would otherwise
   * sit in its XREAD until its own socket timeout. The bus releases it once
   * it has rebuilt, so what was said meanwhile is handed on after this
   * node's leases are settled (a nick lost while cut off is gone before the
   * news of its new holder arrives).
   */
  hold(): void {
    if (this.closed) return;
    this.held = true;
    // Destroyed, not ended: an end() waits for the peer's FIN, which a cut network drops.
    if (this.redis.status === 'ready') this.redis.stream.destroy();
  }

  release(): void {
    this.held = false;
    this.onRelease?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.onRelease?.();
    this.redis.disconnect(); // fails the blocked XREAD
    await this.loop;
  }

  /** A method, not the field: it changes while the loop awaits. */
  private stopped(): boolean {
    return this.closed;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped()) {
      const rooms = [...this.rooms];
      const keys = [this.keys.inbox, this.keys.presence, ...rooms.map(([r]) => this.keys.room(r))];
      const ids = [this.inboxId, this.presenceId, ...rooms.map(([, id]) => id)];
      let reply: unknown;
      try {
        await this.ready();
        if (this.stopped()) return;
        reply = await this.redis.call(
          'XREAD',
          'COUNT',
          CLUSTER_READ_COUNT,
          'BLOCK',
          CLUSTER_READ_BLOCK_MS,
          'STREAMS',
          ...keys,
          ...ids,
        );
        failures = 0;
      } catch (err) {
        if (this.stopped()) return;
        // The connection went (the next ready() waits for it) or e.g. a key has the wrong type.
        this.log.warn({ event: 'cluster_read_failed', err: (err as Error).message });
        failures++;
        await new Promise((resolve) => {
          setTimeout(resolve, Math.min(50 * 2 ** failures, CLUSTER_MAX_BACKOFF_MS)).unref();
        });
        continue;
      }
      if (reply !== null) this.hand(reply);
    }
  }

  /** Resolves once the reader's connection is ready and it is not held (at once if so). */
  private async ready(): Promise<void> {
    while (!this.stopped()) {
      if (this.held) {
        await new Promise<void>((resolve) => {
          this.onRelease = resolve;
        });
        this.onRelease = undefined;
      } else if (this.redis.status !== 'ready') {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.redis.off('ready', done);
            this.redis.off('end', done);
            resolve();
          };
          this.redis.on('ready', done);
          this.redis.on('end', done);
        });
        if (this.redis.status === 'end') return; // closed for good: the XREAD fails, the loop sees why
      } else {
        return;
      }
    }
  }

  private hand(reply: unknown): void {
    if (!Array.isArray(reply)) {
      this.sink.malformed('XREAD', 'not a list');
      return;
    }
    for (const stream of reply as unknown[]) {
      if (!Array.isArray(stream) || typeof stream[0] !== 'string' || !Array.isArray(stream[1])) {
        this.sink.malformed('XREAD', 'not a stream');
        continue;
      }
      const key = stream[0];
      const entries = (stream[1] as unknown[]).filter(isEntry);
      if (entries.length !== (stream[1] as unknown[]).length) this.sink.malformed(key, 'entry');
      const last = entries.at(-1)?.[0];
      if (last === undefined) continue;
      if (key === this.keys.inbox) {
        this.inboxId = last;
        this.sink.inbox(entries);
      } else if (key === this.keys.presence) {
        this.presenceId = last;
        this.sink.presence(entries);
      } else {
        const room = [...this.rooms.keys()].find((r) => this.keys.room(r) === key);
        if (room === undefined) continue; // left meanwhile
        this.rooms.set(room, last);
        this.sink.room(room, entries);
      }
    }
  }
}

/**
 * The in-process room history: the last `perRoom` messages of every room,
 * and at most `maxBytes` (estimated memory) across all rooms, the oldest
 * messages of the whole server forgotten first. A room nobody is in keeps
 * its history until the global bound pushes it out.
 */
import type { BusRoomMessage } from './bus.js';

/** Estimated memory of one stored message: strings are 1–2 bytes a character, plus the object. */
function costOf(message: BusRoomMessage): number {
  return 2 * (message.text.length + message.from.length) + 64;
}

export class RoomHistory {
  private readonly rooms = new Map<string, BusRoomMessage[]>();
  /** Every stored message in publish order, oldest at `head`; evicted ones linger until compaction. */
  private order: BusRoomMessage[] = [];
  private head = 0;
  private live = 0;
  private bytes = 0;

  constructor(
    readonly perRoom: number,
    readonly maxBytes: number,
  ) {}

  add(message: BusRoomMessage): void {
    if (this.perRoom <= 0) return;
    let ring = this.rooms.get(message.room);
    if (ring === undefined) {
      ring = [];
      this.rooms.set(message.room, ring);
    }
    ring.push(message);
    this.order.push(message);
    this.live++;
    this.bytes += costOf(message);
    if (ring.length > this.perRoom) this.dropOldest(ring, message.room);
    while (this.bytes > this.maxBytes && this.head < this.order.length) {
      const oldest = this.order[this.head++] as BusRoomMessage;
      const oldestRing = this.rooms.get(oldest.room);
      if (oldestRing?.[0] === oldest) this.dropOldest(oldestRing, oldest.room);
    }
    // Messages a full room pushed out stay in `order` until here: keep it within twice what is live.
    if (this.order.length - this.head > 2 * this.live + 64) this.compact();
  }

  /** The last `limit` messages of a room, oldest first (a copy). */
  last(room: string, limit: number): BusRoomMessage[] {
    const ring = this.rooms.get(room);
    if (ring === undefined || limit <= 0) return [];
    return ring.slice(Math.max(0, ring.length - limit));
  }

  /** Messages held, and their estimated bytes (for tests and stats). */
  get size(): { messages: number; bytes: number; rooms: number } {
    return { messages: this.live, bytes: this.bytes, rooms: this.rooms.size };
  }

  private dropOldest(ring: BusRoomMessage[], room: string): void {
    const gone = ring.shift();
    if (gone === undefined) return;
    this.live--;
    this.bytes -= costOf(gone);
    if (ring.length === 0) this.rooms.delete(room);
  }

  private compact(): void {
    const kept: BusRoomMessage[] = [];
    for (let i = this.head; i < this.order.length; i++) {
      const message = this.order[i] as BusRoomMessage;
      const ring = this.rooms.get(message.room);
      // A ring is in publish order: a message is still held iff it is not older than the ring's first.
      if (ring !== undefined && (ring[0] as BusRoomMessage).id <= message.id) kept.push(message);
    }
    this.order = kept;
    this.head = 0;
  }
}

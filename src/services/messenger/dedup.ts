import type { UdpPeer } from '../../transport/udp-server.js';
import { peerKey } from './messages.js';

/** The ids one sender address has used lately: a set with a bounded FIFO. */
class SeenIds {
  private readonly ids = new Set<string>();
  private readonly order: string[] = [];
  private head = 0;

  constructor(private readonly limit: number) {}

  /** Records `id`; false if it was seen already. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    this.order.push(id);
    if (this.ids.size > this.limit) {
      this.ids.delete(this.order[this.head] as string);
      this.head++;
      if (this.head > this.limit) {
        this.order.splice(0, this.head);
        this.head = 0;
      }
    }
    return true;
  }
}

/**
 * Which message ids each sender has used lately, so a retransmitted message
 * is delivered once. Memory is bounded: `maxPeers` senders × `perPeer` ids;
 * past that, the sender first seen longest ago is forgotten (a duplicate of
 * its very old messages could then be delivered again: the price of a bound).
 */
export class DuplicateFilter {
  private readonly seen = new Map<string, SeenIds>();

  constructor(
    private readonly perPeer: number,
    private readonly maxPeers: number,
  ) {}

  /** Records an id from `peer`; false for a duplicate. */
  remember(peer: UdpPeer, id: string): boolean {
    const key = peerKey(peer);
    let ids = this.seen.get(key);
    if (!ids) {
      if (this.seen.size >= this.maxPeers) {
        const oldest = this.seen.keys().next();
        if (!oldest.done) this.seen.delete(oldest.value);
      }
      ids = new SeenIds(this.perPeer);
      this.seen.set(key, ids);
    }
    return ids.add(id);
  }
}

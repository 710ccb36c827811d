import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { TestContext } from 'node:test';

/** mulberry32: a small seeded PRNG, so a lossy run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LossyOptions {
  /** Chance each datagram is dropped (each direction). */
  loss: number;
  /** Chance a datagram that got through is delivered twice. */
  duplicate: number;
  /** Datagrams held back 0–maxDelayMs (reordering them). @default 0 */
  maxDelayMs?: number;
  seed: number;
}

export interface LossyStats {
  forwarded: number;
  dropped: number;
  duplicated: number;
}

/**
 * A user-space lossy UDP relay (netem is not available on this kernel):
 * whoever sends to `front` is relayed to `target` from the `back` socket, and
 * what `target` answers to `back` goes to that sender from `front`. Each
 * datagram, either way, may be dropped, duplicated or delayed.
 */
export class LossyUdpRelay {
  readonly stats: LossyStats = { forwarded: 0, dropped: 0, duplicated: 0 };
  private client: RemoteInfo | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly front: Socket,
    private readonly back: Socket,
    private readonly target: { host: string; port: number },
    private readonly options: LossyOptions,
    private readonly random: () => number,
  ) {
    front.on('message', (msg, rinfo) => {
      this.client = rinfo;
      this.pass(back, msg, target.port, target.host);
    });
    back.on('message', (msg, rinfo) => {
      if (rinfo.port !== target.port || !this.client) return;
      this.pass(front, msg, this.client.port, this.client.address);
    });
  }

  static async start(
    t: TestContext,
    target: { host: string; port: number },
    options: LossyOptions,
  ): Promise<LossyUdpRelay> {
    const front = createSocket('udp4');
    const back = createSocket('udp4');
    front.bind(0, '127.0.0.1');
    back.bind(0, '127.0.0.1');
    await Promise.all([once(front, 'listening'), once(back, 'listening')]);
    const relay = new LossyUdpRelay(front, back, target, options, seededRandom(options.seed));
    t.after(() => {
      relay.close();
    });
    return relay;
  }

  /** Where senders should send. */
  get port(): number {
    return this.front.address().port;
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.front.close();
    this.back.close();
  }

  private pass(socket: Socket, msg: Buffer, port: number, host: string): void {
    if (this.random() < this.options.loss) {
      this.stats.dropped++;
      return;
    }
    const copies = this.random() < this.options.duplicate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const delay = this.options.maxDelayMs ? this.random() * this.options.maxDelayMs : 0;
      const send = (): void => {
        this.stats.forwarded++;
        socket.send(msg, port, host);
      };
      if (delay === 0) send();
      else {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          send();
        }, delay);
        this.timers.add(timer);
      }
    }
  }
}

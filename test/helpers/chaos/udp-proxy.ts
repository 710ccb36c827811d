import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import type { Address } from '../../../src/index.js';
import { seededRandom } from '../lossy-udp.js';

/** Chances (0..1) applied to each datagram going one way. */
export interface DatagramFaults {
  drop?: number;
  duplicate?: number;
  /** Held back until `reorderWindow` later datagrams have passed (or 50 ms). */
  reorder?: number;
  reorderWindow?: number;
  /** One random bit flipped. */
  corrupt?: number;
  /** Cut to a random shorter length (possibly 0). */
  truncate?: number;
}

export interface UdpChaosOptions {
  seed: number;
  /** Client → target. */
  up?: DatagramFaults;
  /** Target → client. */
  down?: DatagramFaults;
}

export interface UdpChaosStats {
  passed: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  truncated: number;
}

interface Held {
  msg: Buffer;
  left: number;
  send: () => void;
  timer: NodeJS.Timeout;
}

/**
 * A user-space UDP chaos proxy (extends what helpers/lossy-udp.ts does):
 * each client gets its own upstream socket, so several clients (and the
 * replies meant for each) stay apart. Drop, duplicate, reorder, corrupt and
 * truncate per direction, from a seeded PRNG.
 */
export class ChaosUdpProxy {
  readonly stats: UdpChaosStats = {
    passed: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    corrupted: 0,
    truncated: 0,
  };
  private readonly random: () => number;
  private readonly upstreams = new Map<string, Socket>();
  private readonly held: Held[] = [];

  private constructor(
    private readonly front: Socket,
    private readonly target: { host: string; port: number },
    private options: UdpChaosOptions,
  ) {
    this.random = seededRandom(options.seed);
    front.on('message', (msg, rinfo) => {
      this.fromClient(msg, rinfo);
    });
  }

  static async start(
    t: TestContext,
    target: Address,
    options: UdpChaosOptions,
  ): Promise<ChaosUdpProxy> {
    if (target.kind !== 'inet') throw new Error('UDP needs an inet target');
    const front = createSocket('udp4');
    front.on('error', () => undefined);
    front.bind(0, '127.0.0.1');
    await once(front, 'listening');
    const proxy = new ChaosUdpProxy(front, { host: target.host, port: target.port }, options);
    t.after(() => {
      proxy.close();
    });
    return proxy;
  }

  get address(): Address {
    return { kind: 'inet', host: '127.0.0.1', port: this.front.address().port };
  }

  set(faults: Omit<UdpChaosOptions, 'seed'>): void {
    this.options = { ...faults, seed: this.options.seed };
  }

  close(): void {
    for (const h of this.held) clearTimeout(h.timer);
    this.held.length = 0;
    this.front.close();
    for (const s of this.upstreams.values()) s.close();
    this.upstreams.clear();
  }

  private fromClient(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`;
    let up = this.upstreams.get(key);
    if (!up) {
      const socket = createSocket('udp4');
      up = socket;
      socket.on('error', () => undefined);
      socket.on('message', (reply, from) => {
        if (from.port !== this.target.port) return;
        this.pass(this.options.down ?? {}, reply, (m) => {
          this.front.send(m, rinfo.port, rinfo.address);
        });
      });
      socket.bind(0, '127.0.0.1');
      this.upstreams.set(key, socket);
    }
    const upstream = up;
    this.pass(this.options.up ?? {}, msg, (m) => {
      upstream.send(m, this.target.port, this.target.host);
    });
  }

  private pass(f: DatagramFaults, original: Buffer, send: (m: Buffer) => void): void {
    if (this.random() < (f.drop ?? 0)) {
      this.stats.dropped++;
      return;
    }
    let msg = original;
    if (this.random() < (f.corrupt ?? 0) && msg.length > 0) {
      msg = Buffer.from(msg);
      const bit = Math.floor(this.random() * msg.length * 8);
      msg[bit >> 3] = (msg[bit >> 3] as number) ^ (1 << (bit & 7));
      this.stats.corrupted++;
    }
    if (this.random() < (f.truncate ?? 0) && msg.length > 0) {
      msg = msg.subarray(0, Math.floor(this.random() * msg.length));
      this.stats.truncated++;
    }
    const copies = this.random() < (f.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const out = (): void => {
      for (let i = 0; i < copies; i++) {
        this.stats.passed++;
        send(msg);
      }
    };
    // Datagrams held back are released once enough later ones have passed.
    for (const h of [...this.held]) {
      if (--h.left <= 0) this.release(h);
    }
    if (this.random() < (f.reorder ?? 0)) {
      this.stats.reordered++;
      const h: Held = {
        msg,
        left: f.reorderWindow ?? 3,
        send: out,
        timer: setTimeout(() => {
          this.release(h);
        }, 50),
      };
      this.held.push(h);
      return;
    }
    out();
  }

  private release(h: Held): void {
    const i = this.held.indexOf(h);
    if (i === -1) return;
    this.held.splice(i, 1);
    clearTimeout(h.timer);
    h.send();
  }
}

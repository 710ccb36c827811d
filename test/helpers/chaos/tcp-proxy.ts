import { once } from 'node:events';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import type { Address } from '../../../src/index.js';
import { seededRandom } from '../lossy-udp.js';

/**
 * What happens to the bytes going one way through the proxy (Toxiproxy's
 * "toxics", netem being unavailable on this kernel). Every field is optional;
 * an empty object forwards bytes untouched.
 */
export interface DirectionFaults {
  /** Added to every segment's delivery (ms). */
  latencyMs?: number;
  /** Uniform 0..jitterMs added on top of latencyMs; order is kept (ms). */
  jitterMs?: number;
  /** Bytes per second; segments queue behind one another. */
  bandwidth?: number;
  /** Cut each chunk into random segments of min..max bytes, each written on its own. */
  slice?: { min: number; max: number };
  /** limit_data: after this many bytes this way, both sides get a FIN. */
  closeAfterBytes?: number;
  /** reset_peer: after this many bytes this way, both sides get an RST. */
  resetAfterBytes?: number;
  /**
   * timeout: after this many bytes this way nothing more passes (either way);
   * then both sides are closed after `stallCloseMs` (0: held open until the proxy closes).
   */
  stallAfterBytes?: number;
  stallCloseMs?: number;
}

export interface TcpChaosOptions {
  /** Seed of the PRNG behind jitter and slicing: a failing run replays with the same seed. */
  seed: number;
  /** Client → target. */
  up?: DirectionFaults;
  /** Target → client. */
  down?: DirectionFaults;
}

export interface TcpChaosStats {
  connections: number;
  bytesUp: number;
  bytesDown: number;
  resets: number;
  limitCloses: number;
  stalls: number;
}

/** How long after the last bytes a byte limit fires (ms); see Pipe.deliver. */
const RESET_DELAY_MS = 25;

/** Bytes queued in one pipe before its source is paused. */
const PIPE_HIGH_WATER = 1 << 20;

/** One direction of one proxied connection: a timed queue of segments. */
class Pipe {
  private readonly queue: { data: Buffer; due: number }[] = [];
  private queued = 0;
  private lastDue = 0;
  private timer: NodeJS.Timeout | undefined;
  passed = 0;
  stalled = false;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private faults: () => DirectionFaults,
    private readonly random: () => number,
    private readonly count: (n: number) => void,
    private readonly limit: (kind: 'close' | 'reset' | 'stall') => void,
  ) {
    src.on('data', (chunk: Buffer) => {
      this.push(chunk);
    });
    src.on('end', () => {
      if (this.stalled) return; // a stalled pipe passes nothing, not even a FIN
      this.queue.push({ data: Buffer.alloc(0), due: this.nextDue(0) }); // FIN keeps its place
      this.schedule();
    });
  }

  private nextDue(bytes: number): number {
    const f = this.faults();
    const now = performance.now();
    let due = now + (f.latencyMs ?? 0) + (f.jitterMs ? this.random() * f.jitterMs : 0);
    if (f.bandwidth) due = Math.max(due, this.lastDue) + (bytes / f.bandwidth) * 1000;
    due = Math.max(due, this.lastDue); // never reorder a stream
    this.lastDue = due;
    return due;
  }

  private push(chunk: Buffer): void {
    if (this.stalled) return;
    const f = this.faults();
    const parts: Buffer[] = [];
    if (f.slice) {
      const { min, max } = f.slice;
      for (let at = 0; at < chunk.length;) {
        const n = min + Math.floor(this.random() * (max - min + 1));
        parts.push(chunk.subarray(at, at + n));
        at += n;
      }
    } else parts.push(chunk);
    for (const data of parts) {
      this.queue.push({ data, due: this.nextDue(data.length) });
      this.queued += data.length;
    }
    if (this.queued > PIPE_HIGH_WATER) this.src.pause();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = (this.queue[0] as { due: number }).due - performance.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  private flush(): void {
    const now = performance.now();
    while (this.queue.length > 0 && (this.queue[0] as { due: number }).due <= now + 1) {
      const { data } = this.queue.shift() as { data: Buffer };
      this.queued -= data.length;
      if (data.length === 0) {
        if (!this.dst.destroyed) this.dst.end();
        continue;
      }
      if (!this.deliver(data)) return;
    }
    if (this.queued < PIPE_HIGH_WATER / 2 && !this.src.destroyed) this.src.resume();
    this.schedule();
  }

  /** Writes what the limits allow; false once a limit fired. */
  private deliver(data: Buffer): boolean {
    if (this.stalled || this.dst.destroyed) return false;
    const f = this.faults();
    const limits: [number | undefined, 'close' | 'reset' | 'stall'][] = [
      [f.closeAfterBytes, 'close'],
      [f.resetAfterBytes, 'reset'],
      [f.stallAfterBytes, 'stall'],
    ];
    for (const [at, kind] of limits) {
      if (at !== undefined && this.passed + data.length >= at) {
        const part = data.subarray(0, Math.max(0, at - this.passed));
        this.stalled = true;
        // An RST sent right behind the last bytes reaches a loopback peer as a FIN
        // (verified on Node 20 / Linux 6.18): the limit fires a moment after they are written.
        if (part.length > 0)
          this.write(part, () => setTimeout(() => this.limit(kind), RESET_DELAY_MS));
        else this.limit(kind);
        return false;
      }
    }
    this.write(data);
    return true;
  }

  private write(data: Buffer, then?: () => void): void {
    this.passed += data.length;
    this.count(data.length);
    this.dst.write(data, then);
  }

  stop(): void {
    this.stalled = true;
    this.queue.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * A user-space TCP chaos proxy on 127.0.0.1:0 in front of `target`:
 * latency and jitter, bandwidth caps, slicing into small segments,
 * stall-then-close, reset and close-after-N-bytes, per direction, from a
 * seeded PRNG. Faults may be changed while connections are open (`set`).
 */
export class ChaosTcpProxy {
  readonly stats: TcpChaosStats = {
    connections: 0,
    bytesUp: 0,
    bytesDown: 0,
    resets: 0,
    limitCloses: 0,
    stalls: 0,
  };
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly random: () => number;
  private options: TcpChaosOptions;

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
    options: TcpChaosOptions,
  ) {
    this.options = options;
    this.random = seededRandom(options.seed);
    server.on('connection', (client) => {
      this.accept(client);
    });
  }

  static async start(
    t: TestContext,
    target: Address | { host: string; port: number },
    options: TcpChaosOptions,
  ): Promise<ChaosTcpProxy> {
    const to =
      'kind' in target
        ? target.kind === 'inet'
          ? { host: target.host, port: target.port }
          : undefined
        : target;
    if (!to) throw new Error('the chaos proxy needs an inet target');
    const server = createServer({ allowHalfOpen: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const proxy = new ChaosTcpProxy(server, to, options);
    t.after(() => proxy.close());
    return proxy;
  }

  /** Where clients connect. */
  get address(): Address {
    const info = this.server.address();
    if (info === null || typeof info !== 'object') throw new Error('proxy not listening');
    return { kind: 'inet', host: '127.0.0.1', port: info.port };
  }

  /** Replaces the faults; connections already open follow them from their next byte. */
  set(faults: Omit<TcpChaosOptions, 'seed'>): void {
    this.options = { ...faults, seed: this.options.seed };
  }

  /** RSTs every open connection on both sides (a mid-transfer reset). */
  resetAll(): void {
    for (const s of this.sockets) {
      this.stats.resets++;
      s.resetAndDestroy();
    }
  }

  get open(): number {
    return this.sockets.size / 2;
  }

  close(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
    for (const timer of this.timers) clearTimeout(timer);
  }

  private accept(client: Socket): void {
    this.stats.connections++;
    client.pause();
    const upstream = netConnect({
      host: this.target.host,
      port: this.target.port,
      allowHalfOpen: true,
    });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.setNoDelay(true);
    }
    const pipes: Pipe[] = [];
    const finish = (kind: 'close' | 'reset' | 'stall'): void => {
      for (const p of pipes) p.stop();
      if (kind === 'reset') {
        this.stats.resets++;
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      } else if (kind === 'close') {
        this.stats.limitCloses++;
        client.end();
        upstream.end();
        const timer = setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, 1_000);
        this.timers.add(timer);
      } else {
        this.stats.stalls++;
        const ms = this.faultsFor('up').stallCloseMs ?? this.faultsFor('down').stallCloseMs ?? 0;
        if (ms > 0) {
          const timer = setTimeout(() => {
            client.destroy();
            upstream.destroy();
          }, ms);
          this.timers.add(timer);
        }
      }
    };
    pipes.push(
      new Pipe(
        client,
        upstream,
        () => this.faultsFor('up'),
        this.random,
        (n) => (this.stats.bytesUp += n),
        finish,
      ),
      new Pipe(
        upstream,
        client,
        () => this.faultsFor('down'),
        this.random,
        (n) => (this.stats.bytesDown += n),
        finish,
      ),
    );
    const closeBoth = (): void => {
      for (const p of pipes) p.stop();
      client.destroy();
      upstream.destroy();
    };
    upstream.once('connect', () => {
      client.resume();
    });
    // A reset on either side is passed on as a reset; a close after both FINs closes both.
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      a.once('error', () => {
        if (!b.destroyed) b.resetAndDestroy();
      });
      a.once('close', () => {
        this.sockets.delete(a);
        if (!b.destroyed && b.readableEnded) b.destroy();
        if (!b.destroyed && !a.readableEnded) closeBoth();
      });
    }
  }

  private faultsFor(way: 'up' | 'down'): DirectionFaults {
    return this.options[way] ?? {};
  }
}

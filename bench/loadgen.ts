/**
 * The load generator: plain node:net (node:tls for the TLS bench), loopback
 * only, bounded in connections and time, and cheap per message so that the
 * server is what is measured (bench/echo.bench.ts checks that against a
 * trivial pipe server).
 *
 * Modes:
 * - pipeline: each connection keeps `windowFrames` frames in flight, sent in
 *   writes of `batchFrames` frames from one prebuilt buffer; reply frames are
 *   counted by walking their length prefixes (no copies).
 * - request:  each connection has exactly one frame outstanding; the latency
 *   of every request sent and answered inside the measured window is kept.
 * - accept:   N clients at once, each in a loop: connect, one frame's round
 *   trip, reset (RST: no TIME_WAIT left to eat the port range); counts cycles.
 * - idle:     opens N connections, one round trip each, holds them; later
 *   checks that every one still answers.
 *
 * Every run has a warm-up phase that is not counted. It runs as a child of
 * the orchestrator (IPC); it never listens, and only connects to 127.0.0.1.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type {
  AcceptSpec,
  IdleCheckResult,
  IdleOpenResult,
  LoadCommand,
  LoadReply,
  PipelineSpec,
  RequestSpec,
  RunResult,
  RunSpec,
} from './protocol.js';

const HOST = '127.0.0.1';
const HEADER = 4;
/** Connects in flight at once while opening many connections. */
const CONNECT_CONCURRENCY = 256;
/** A round trip in idle mode that takes longer than this counts as dead (ms). */
const ROUND_TRIP_TIMEOUT_MS = 10_000;
/** The largest number of connections a run may open. */
const MAX_CONNECTIONS = 12_000;
/** The longest a run may last (ms). */
const MAX_RUN_MS = 60_000;

/** Printable ASCII with both cases, so an upper-casing server has real work. */
function payloadOf(size: number): Buffer {
  const alphabet = 'The quick brown fox jumps over the lazy dog 0123456789 ';
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = alphabet.charCodeAt(i % alphabet.length);
  return out;
}

/** `count` frames of `size` payload bytes, back to back in one buffer. */
export function framesOf(size: number, count: number): Buffer {
  const payload = payloadOf(size);
  const out = Buffer.allocUnsafe((HEADER + size) * count);
  for (let i = 0; i < count; i++) {
    const at = i * (HEADER + size);
    out.writeUInt32BE(size, at);
    payload.copy(out, at + HEADER);
  }
  return out;
}

/**
 * Counts reply frames in a byte stream by their length prefixes, without
 * copying payloads. Every reply must have the expected length.
 */
export class ReplyCounter {
  frames = 0;
  private skip = 0;
  private head = 0;
  private headFill = 0;

  constructor(private readonly expected: number) {}

  /** Counts the frames completed by `chunk[0, end)`. */
  push(chunk: Buffer, end = chunk.length): void {
    let off = 0;
    while (off < end) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, end - off);
        this.skip -= take;
        off += take;
        if (this.skip === 0) this.frames++;
        continue;
      }
      let length: number;
      if (this.headFill === 0 && end - off >= HEADER) {
        length = chunk.readUInt32BE(off);
        off += HEADER;
      } else {
        this.head = this.head * 256 + (chunk[off] as number);
        off++;
        if (++this.headFill < HEADER) continue;
        length = this.head;
        this.head = 0;
        this.headFill = 0;
      }
      if (length !== this.expected) {
        throw new Error(`reply frame of ${length} bytes, expected ${this.expected}`);
      }
      if (length === 0) this.frames++;
      else this.skip = length;
    }
  }
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) throw new Error(`bad port ${port}`);
}

function checkBounds(connections: number, ms: number): void {
  if (!Number.isInteger(connections) || connections < 1 || connections > MAX_CONNECTIONS) {
    throw new Error(`connections must be 1..${MAX_CONNECTIONS}`);
  }
  if (!(ms > 0 && ms <= MAX_RUN_MS)) throw new Error(`a run must last 0..${MAX_RUN_MS} ms`);
}

/** What a connection does with the bytes it reads: `buf[0, n)`, valid only during the call. */
type OnBytes = (buf: Buffer, n: number) => void;

/** Replies are read into this one buffer (onread): no allocation per read, nothing kept. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/** A client connection: its reads go to `onBytes`, which may be replaced. */
interface Client {
  socket: Socket;
  onBytes: OnBytes;
}

function openSocket(port: number, tls = false): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client: Client = { socket: undefined as unknown as Socket, onBytes: () => undefined };
    // A TLSSocket has no `onread`: its decrypted reads come as 'data' chunks.
    const socket = tls
      ? tlsConnect({ host: HOST, port, rejectUnauthorized: false, ALPNProtocols: ['sockit/1'] })
      : connect({
          host: HOST,
          port,
          onread: {
            buffer: READ_BUFFER,
            callback: (n, buf) => {
              client.onBytes(buf as Buffer, n);
              return true;
            },
          },
        });
    if (tls) socket.on('data', (chunk: Buffer) => client.onBytes(chunk, chunk.length));
    client.socket = socket;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('connect timed out'));
    }, ROUND_TRIP_TIMEOUT_MS);
    socket.once('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve(client);
    });
  });
}

/** Opens `count` connections, at most CONNECT_CONCURRENCY at a time, running `each` on every one. */
async function openMany<T>(
  port: number,
  count: number,
  each: (client: Client) => Promise<T>,
): Promise<PromiseSettledResult<T>[]> {
  const results: PromiseSettledResult<T>[] = new Array<PromiseSettledResult<T>>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      try {
        results[i] = { status: 'fulfilled', value: await each(await openSocket(port)) };
      } catch (err) {
        results[i] = { status: 'rejected', reason: err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, count) }, worker));
  return results;
}

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** Warm-up, then the measured window: returns [start, end] in performance.now() ms. */
async function phases(
  spec: { warmupMs: number; durationMs: number },
  onStart: (now: number) => void,
): Promise<[number, number]> {
  await sleep(spec.warmupMs);
  const start = performance.now();
  onStart(start);
  await sleep(spec.durationMs);
  return [start, performance.now()];
}

/** Rejects when any connection errors or is closed by the server; `fail` rejects it too. */
function watch(clients: readonly Client[]): {
  failed: Promise<never>;
  fail: (err: unknown) => void;
} {
  let fail: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_resolve, reject) => {
    fail = reject;
    for (const { socket } of clients) {
      socket.on('error', reject);
      socket.on('close', () => {
        reject(new Error('server closed a connection during the run'));
      });
    }
  });
  failed.catch(() => undefined); // settled after the run too, when we close
  return { failed, fail };
}

function openAll(spec: { port: number; connections: number; tls?: boolean }): Promise<Client[]> {
  return Promise.all(
    Array.from({ length: spec.connections }, () => openSocket(spec.port, spec.tls)),
  );
}

async function runPipeline(spec: PipelineSpec): Promise<Omit<RunResult, 'cpuMs'>> {
  checkPort(spec.port);
  checkBounds(spec.connections, spec.warmupMs + spec.durationMs);
  const batch = framesOf(spec.frameSize, spec.batchFrames);
  const clients = await openAll(spec);
  const { failed, fail } = watch(clients);
  let stopped = false;
  let measuring = false;
  let counted = 0; // reply frames counted inside the measured window
  let total = 0;

  for (const client of clients) {
    const { socket } = client;
    const counter = new ReplyCounter(spec.frameSize);
    let sent = 0;
    let blocked = false;
    const pump = (): void => {
      while (
        !stopped &&
        !blocked &&
        sent - counter.frames + spec.batchFrames <= spec.windowFrames
      ) {
        sent += spec.batchFrames;
        if (!socket.write(batch)) blocked = true;
      }
    };
    socket.on('drain', () => {
      blocked = false;
      pump();
    });
    client.onBytes = (buf, n) => {
      const before = counter.frames;
      try {
        counter.push(buf, n);
      } catch (err) {
        fail(err);
        return;
      }
      total += counter.frames - before;
      if (measuring) counted += counter.frames - before;
      pump();
    };
    pump();
  }

  try {
    const [start, end] = await Promise.race([
      phases(spec, () => {
        measuring = true;
      }),
      failed,
    ]);
    measuring = false;
    return {
      frames: counted,
      totalFrames: total,
      payloadBytes: counted * spec.frameSize,
      seconds: (end - start) / 1000,
    };
  } finally {
    stopped = true;
    for (const { socket } of clients) socket.destroy();
  }
}

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1] as number;
}

async function runRequests(spec: RequestSpec): Promise<Omit<RunResult, 'cpuMs'>> {
  checkPort(spec.port);
  checkBounds(spec.connections, spec.warmupMs + spec.durationMs);
  const request = framesOf(spec.frameSize, 1);
  const clients = await openAll(spec);
  const { failed, fail } = watch(clients);
  let stopped = false;
  let measuring = false;
  let windowStart = Number.POSITIVE_INFINITY;
  let latencies = new Float64Array(1 << 18);
  let samples = 0;
  let completed = 0; // answers received inside the measured window
  let total = 0;

  for (const client of clients) {
    const { socket } = client;
    const counter = new ReplyCounter(spec.frameSize);
    let sentAt = 0;
    client.onBytes = (buf, n) => {
      const before = counter.frames;
      try {
        counter.push(buf, n);
      } catch (err) {
        fail(err);
        return;
      }
      if (counter.frames === before) return; // reply not complete yet
      if (counter.frames !== before + 1) {
        fail(new Error('more replies than requests'));
        return;
      }
      const now = performance.now();
      total++;
      if (measuring) {
        completed++;
        if (sentAt >= windowStart) {
          if (samples === latencies.length) {
            const grown = new Float64Array(latencies.length * 2);
            grown.set(latencies);
            latencies = grown;
          }
          latencies[samples++] = now - sentAt;
        }
      }
      if (stopped) return;
      sentAt = now;
      socket.write(request);
    };
    sentAt = performance.now();
    socket.write(request);
  }

  try {
    const [start, end] = await Promise.race([
      phases(spec, (now) => {
        windowStart = now;
        measuring = true;
      }),
      failed,
    ]);
    measuring = false;
    const sorted = latencies.subarray(0, samples).sort();
    return {
      frames: completed,
      totalFrames: total,
      payloadBytes: completed * spec.frameSize,
      seconds: (end - start) / 1000,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
    };
  } finally {
    stopped = true;
    for (const { socket } of clients) socket.destroy();
  }
}

/** One connection's cycle: connect, one frame out, its reply back, reset. */
function acceptCycle(port: number, request: Buffer, frameSize: number): Promise<void> {
  return openSocket(port).then(
    (client) =>
      new Promise<void>((resolve, reject) => {
        const { socket } = client;
        const counter = new ReplyCounter(frameSize);
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error('no reply within the round-trip timeout'));
        }, ROUND_TRIP_TIMEOUT_MS);
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        socket.once('close', () => {
          clearTimeout(timer);
          reject(new Error('server closed a connection during the run'));
        });
        client.onBytes = (buf, n) => {
          try {
            counter.push(buf, n);
          } catch (err) {
            clearTimeout(timer);
            socket.destroy();
            reject(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          if (counter.frames === 0) return;
          clearTimeout(timer);
          socket.removeAllListeners('close');
          socket.on('error', () => undefined);
          socket.resetAndDestroy();
          resolve();
        };
        socket.write(request);
      }),
  );
}

async function runAccept(spec: AcceptSpec): Promise<Omit<RunResult, 'cpuMs'>> {
  checkPort(spec.port);
  checkBounds(spec.connections, spec.warmupMs + spec.durationMs);
  const request = framesOf(spec.frameSize, 1);
  let stopped = false;
  let measuring = false;
  let counted = 0;
  let total = 0;
  let failure: Error | undefined;
  const worker = async (): Promise<void> => {
    while (!stopped && failure === undefined) {
      try {
        await acceptCycle(spec.port, request, spec.frameSize);
      } catch (err) {
        failure ??= err instanceof Error ? err : new Error(String(err));
        return;
      }
      total++;
      if (measuring) counted++;
    }
  };
  const workers = Promise.all(Array.from({ length: spec.connections }, worker));
  try {
    const [start, end] = await phases(spec, () => {
      measuring = true;
    });
    measuring = false;
    if (failure !== undefined) throw failure;
    return {
      frames: counted,
      totalFrames: total,
      payloadBytes: counted * spec.frameSize,
      seconds: (end - start) / 1000,
    };
  } finally {
    stopped = true;
    await workers;
  }
}

export async function run(spec: RunSpec): Promise<RunResult> {
  const before = process.cpuUsage();
  const result =
    spec.mode === 'pipeline'
      ? await runPipeline(spec)
      : spec.mode === 'request'
        ? await runRequests(spec)
        : await runAccept(spec);
  const used = process.cpuUsage(before);
  return { ...result, cpuMs: (used.user + used.system) / 1000 };
}

/** One held connection of idle mode. */
interface Held {
  socket: Socket;
  counter: ReplyCounter;
  waiter: ((ok: boolean) => void) | undefined;
  closed: boolean;
}

const idle: { held: Held[]; request: Buffer } = { held: [], request: Buffer.alloc(0) };

function hold(client: Client, frameSize: number): Held {
  const { socket } = client;
  const held: Held = {
    socket,
    counter: new ReplyCounter(frameSize),
    waiter: undefined,
    closed: false,
  };
  const settle = (ok: boolean): void => {
    const waiter = held.waiter;
    held.waiter = undefined;
    waiter?.(ok);
  };
  client.onBytes = (buf, n) => {
    const before = held.counter.frames;
    try {
      held.counter.push(buf, n);
    } catch {
      settle(false);
      socket.destroy();
      return;
    }
    if (held.counter.frames > before) settle(true);
  };
  socket.on('error', () => undefined);
  socket.on('close', () => {
    held.closed = true;
    settle(false);
  });
  return held;
}

/** One request on a held connection; resolves whether it was answered in time. */
function roundTrip(held: Held): Promise<boolean> {
  if (held.closed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      held.waiter = undefined;
      resolve(false);
    }, ROUND_TRIP_TIMEOUT_MS);
    held.waiter = (ok) => {
      clearTimeout(timer);
      resolve(ok);
    };
    held.socket.write(idle.request);
  });
}

async function idleOpen(
  port: number,
  connections: number,
  frameSize: number,
): Promise<IdleOpenResult> {
  checkPort(port);
  checkBounds(connections, 1);
  if (idle.held.length > 0) throw new Error('idle connections are already open');
  idle.request = framesOf(frameSize, 1);
  const started = performance.now();
  const results = await openMany(port, connections, (client) => {
    const held = hold(client, frameSize);
    idle.held.push(held);
    return roundTrip(held);
  });
  let answered = 0;
  for (const result of results) if (result.status === 'fulfilled' && result.value) answered++;
  return {
    opened: idle.held.length,
    answered,
    failed: connections - answered,
    seconds: (performance.now() - started) / 1000,
  };
}
async function idleCheck(): Promise<IdleCheckResult> {
  const closed = idle.held.filter((held) => held.closed).length;
  const answers = await Promise.all(idle.held.map(roundTrip));
  return { alive: answers.filter(Boolean).length, closed };
}

function idleClose(): void {
  // A reset leaves no TIME_WAIT behind, so repeated runs do not eat the port range.
  for (const held of idle.held) held.socket.resetAndDestroy();
  idle.held = [];
}

async function handle(command: LoadCommand): Promise<LoadReply> {
  switch (command.cmd) {
    case 'run':
      globalThis.gc?.(); // the previous run's garbage is not this run's cost
      return { ok: true, result: await run(command.spec) };
    case 'idle-open':
      return {
        ok: true,
        idleOpen: await idleOpen(command.port, command.connections, command.frameSize),
      };
    case 'idle-check':
      return { ok: true, idleCheck: await idleCheck() };
    case 'idle-close':
      idleClose();
      return { ok: true, closed: true };
    case 'exit':
      idleClose();
      process.exit(0);
  }
}

if (process.send) {
  process.on('message', (command: LoadCommand) => {
    void handle(command).then(
      (reply) => process.send?.(reply),
      (err: unknown) =>
        process.send?.({ ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

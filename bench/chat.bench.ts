/**
 * Chat fan-out: 100 clients in one room, one sender; messages delivered per
 * second and delivery latency, sockit's ChatServer against a minimal
 * hand-written node:net broadcast (bench/baseline/broadcast-server.ts), in
 * the same run. See docs/PERFORMANCE.md.
 *
 *   npm run bench:chat                 (builds first)
 *   node --import tsx bench/chat.bench.ts [--quick] [--rounds N] [--seconds S] [--cpu-prof]
 *
 * Each server runs in its own process (bench/chat/server.ts, compiled to
 * plain JS); this process is the load generator: 99 receivers and one sender,
 * all framed envelope sockets on node:net. The sender keeps WINDOW messages in
 * flight, a message counting as delivered once all 99 receivers have it; a
 * delivery's latency runs from the sender's write to the receiver's read.
 * Rounds alternate which server goes first, each with fresh processes;
 * medians and sockit/baseline are printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  BENCH_DIR,
  RESULTS_DIR,
  ROOT,
  compileChildren,
  processCpuMs,
  sleep,
} from './harness/processes.js';
import { textTable } from './harness/report.js';
import { formatCount, formatNumber, formatRatio, median, spread } from './harness/stats.js';

const JS_DIR = `${RESULTS_DIR}/js`;
const CHILD_SOURCES = ['chat/server.ts', 'baseline/broadcast-server.ts'];

const HOST = '127.0.0.1';
const HEADER = 4;
const CLIENTS = 100;
const RECEIVERS = CLIENTS - 1;
/** Messages in flight: sent and not yet delivered to every receiver. */
const WINDOW = 32;
const TEXT_BYTES = 64;
const ROOM = 'bench';
/** A run in which no message completes for this long fails (ms). */
const STALL_MS = 5_000;
/** Target from the issue: sockit/baseline ≥ 0.8 in messages delivered per second. */
const TARGET = 0.8;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds ?? (values.quick ? 3 : 5));
const MEASURE_MS = Number(values.seconds ?? (values.quick ? 1 : 2)) * 1000;
const WARMUP_MS = 300;

type Kind = 'sockit' | 'baseline';

async function startServer(kind: Kind): Promise<{ child: ChildProcess; port: number }> {
  const prof = values['cpu-prof']
    ? ['--cpu-prof', `--cpu-prof-dir=${RESULTS_DIR}/prof/chat-${kind}`]
    : [];
  const child = spawn(process.execPath, [...prof, `${JS_DIR}/chat/server.js`, kind], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  return { child, port: (JSON.parse(first) as { port: number }).port };
}

function envelope(message: object): Buffer {
  const body = Buffer.from(JSON.stringify(message));
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, HEADER);
  return out;
}

/** Cuts a byte stream into frame payloads (copies only a frame split across reads). */
class FrameReader {
  private pending: Buffer | undefined;

  constructor(private readonly onFrame: (payload: Buffer) => void) {}

  push(data: Buffer): void {
    let chunk = data;
    if (this.pending) {
      chunk = Buffer.concat([this.pending, data]);
      this.pending = undefined;
    }
    let off = 0;
    while (chunk.length - off >= HEADER) {
      const length = chunk.readUInt32BE(off);
      if (chunk.length - off < HEADER + length) break;
      this.onFrame(chunk.subarray(off + HEADER, off + HEADER + length));
      off += HEADER + length;
    }
    if (off < chunk.length) this.pending = Buffer.from(chunk.subarray(off));
  }
}

const SEQ_MARK = Buffer.from('seq:');
const DIGIT_0 = 0x30;

/** The sequence number after `seq:` in a message event, or -1 for other events. */
function seqOf(payload: Buffer): number {
  const at = payload.indexOf(SEQ_MARK);
  if (at < 0) return -1;
  let n = 0;
  for (let i = at + SEQ_MARK.length; i < payload.length; i++) {
    const d = (payload[i] as number) - DIGIT_0;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  return n;
}

function openClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port }, () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

interface RunResult {
  deliveredPerSec: number;
  p50Us: number;
  p99Us: number;
  serverCpuUsPerDelivery: number;
  serverCpuPct: number;
  loadgenCpuPct: number;
}

async function run(kind: Kind): Promise<RunResult> {
  const { child, port } = await startServer(kind);
  const sockets: Socket[] = [];
  try {
    // Ring of per-message state: when sent, how many receivers have it.
    const RING = 1 << 12;
    const sentAt = new Float64Array(RING);
    const got = new Uint8Array(RING);
    let nextSeq = 1;
    let inFlight = 0;
    let delivered = 0;
    let measuring = false;
    let windowStart = Number.POSITIVE_INFINITY;
    let latencies = new Float64Array(1 << 20);
    let samples = 0;
    let running = true;
    let lastProgress = performance.now();
    let failure: Error | undefined;

    const receivers: Socket[] = [];
    for (let i = 0; i < RECEIVERS; i++) receivers.push(await openClient(port));
    const sender = await openClient(port);
    sockets.push(...receivers, sender);
    for (const socket of sockets) {
      socket.on('error', (err) => {
        failure ??= err;
      });
      socket.on('close', () => {
        if (running) failure ??= new Error('the server closed a client');
      });
    }

    const padding = 'x'.repeat(TEXT_BYTES);
    const pump = (): void => {
      if (!running || inFlight >= WINDOW) return;
      const batch: Buffer[] = [];
      while (inFlight < WINDOW) {
        const seq = nextSeq++;
        const text = `seq:${seq} ${padding}`.slice(0, TEXT_BYTES);
        sentAt[seq % RING] = performance.now();
        got[seq % RING] = 0;
        batch.push(envelope({ type: 'say', room: ROOM, text }));
        inFlight++;
      }
      sender.write(batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch));
    };

    for (const socket of receivers) {
      const reader = new FrameReader((payload) => {
        const seq = seqOf(payload);
        if (seq < 0) return;
        const slot = seq % RING;
        const now = performance.now();
        delivered++;
        if (measuring && (sentAt[slot] as number) >= windowStart) {
          if (samples === latencies.length) {
            const grown = new Float64Array(latencies.length * 2);
            grown.set(latencies);
            latencies = grown;
          }
          latencies[samples++] = now - (sentAt[slot] as number);
        }
        const count = (got[slot] as number) + 1;
        got[slot] = count;
        if (count === RECEIVERS) {
          inFlight--;
          lastProgress = now;
          pump();
        }
      });
      socket.on('data', (chunk: Buffer) => {
        reader.push(chunk);
      });
    }
    sender.on('data', () => undefined); // its receipts and room events: read and dropped

    // Join: receivers first; the room must hold all of them before the first message.
    for (const socket of receivers) socket.write(envelope({ type: 'join', room: ROOM }));
    await sleep(300);
    sender.write(envelope({ type: 'join', room: ROOM }));
    await sleep(100);

    const stall = setInterval(() => {
      if (performance.now() - lastProgress > STALL_MS) failure ??= new Error('no progress');
    }, 500);
    try {
      lastProgress = performance.now();
      pump();
      await sleep(WARMUP_MS);
      const cpuBefore = await processCpuMs(child.pid);
      const selfBefore = process.cpuUsage();
      const deliveredBefore = delivered;
      windowStart = performance.now();
      measuring = true;
      await sleep(MEASURE_MS);
      measuring = false;
      const elapsed = performance.now() - windowStart;
      const count = delivered - deliveredBefore;
      const self = process.cpuUsage(selfBefore);
      const serverMs = (await processCpuMs(child.pid)) - cpuBefore;
      if (failure) throw failure;
      const sorted = latencies.subarray(0, samples).sort();
      const pick = (p: number): number =>
        (sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN) *
        1000;
      return {
        deliveredPerSec: (count * 1000) / elapsed,
        p50Us: pick(0.5),
        p99Us: pick(0.99),
        serverCpuUsPerDelivery: (serverMs * 1000) / Math.max(1, count),
        serverCpuPct: (serverMs / elapsed) * 100,
        loadgenCpuPct: ((self.user + self.system) / 1000 / elapsed) * 100,
      };
    } finally {
      running = false;
      clearInterval(stall);
    }
  } finally {
    for (const socket of sockets) socket.destroy();
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

async function main(): Promise<void> {
  await compileChildren(BENCH_DIR, JS_DIR, CHILD_SOURCES);
  console.error(
    `chat fan-out bench: ${CLIENTS} clients in one room, 1 sender, ${WINDOW} messages in flight, ` +
      `${TEXT_BYTES} B texts; ${ROUNDS} rounds × ${MEASURE_MS} ms after ${WARMUP_MS} ms warm-up`,
  );
  const results: Record<Kind, RunResult[]> = { sockit: [], baseline: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order: Kind[] = round % 2 === 0 ? ['sockit', 'baseline'] : ['baseline', 'sockit'];
    for (const kind of order) {
      const r = await run(kind);
      results[kind].push(r);
      console.error(
        `  ${round + 1}/${ROUNDS} ${kind.padEnd(8)} ${formatCount(r.deliveredPerSec)} msgs/s  ` +
          `p50 ${formatNumber(r.p50Us)} µs  p99 ${formatNumber(r.p99Us)} µs  ` +
          `(server ${r.serverCpuPct.toFixed(0)}% CPU, ${formatNumber(r.serverCpuUsPerDelivery)} µs/delivery; ` +
          `load generator ${r.loadgenCpuPct.toFixed(0)}%)`,
      );
    }
  }
  const row = (
    name: string,
    pick: (r: RunResult) => number,
    format: (v: number) => string,
  ): string[] => {
    const s = median(results.sockit.map(pick));
    const b = median(results.baseline.map(pick));
    const noise = Math.max(spread(results.sockit.map(pick)), spread(results.baseline.map(pick)));
    return [name, format(s), format(b), formatRatio(s / b), `±${(noise * 100).toFixed(1)}%`];
  };
  const rows = [
    row('messages delivered/s', (r) => r.deliveredPerSec, formatCount),
    row('  p50 delivery latency (µs)', (r) => r.p50Us, formatNumber),
    row('  p99 delivery latency (µs)', (r) => r.p99Us, formatNumber),
    row('  server CPU per delivery (µs)', (r) => r.serverCpuUsPerDelivery, formatNumber),
  ];
  const ratio =
    median(results.sockit.map((r) => r.deliveredPerSec)) /
    median(results.baseline.map((r) => r.deliveredPerSec));
  console.log(`\nchat fan-out (${CLIENTS} clients, one room, one sender): medians of ${ROUNDS}\n`);
  console.log(textTable(['scenario', 'sockit', 'baseline', 'ratio', 'noise'], rows));
  console.log(
    `\nsockit/baseline messages delivered/s: ${formatRatio(ratio)} (target ≥ ${TARGET}: ${ratio >= TARGET ? 'ok' : 'BELOW'})`,
  );
}

await main();

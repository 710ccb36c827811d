/**
 * The fan-out load both chat benches drive (bench/chat.bench.ts over framed
 * TCP, bench/web.bench.ts over WebSockets): RECEIVERS clients and one sender
 * in one room, WINDOW messages in flight, a message counting as delivered
 * once every receiver has it; a delivery's latency runs from the sender's
 * write to the receiver's read. Only how a client sends and receives one
 * message differs between the two, so it is a parameter (`FanoutClient`).
 */
import { processCpuMs, sleep } from '../harness/processes.js';
import { textTable } from '../harness/report.js';
import { formatCount, formatNumber, formatRatio, median, spread } from '../harness/stats.js';

/** One chat client of the load generator: sends envelope requests, hands each event payload on. */
export interface FanoutClient {
  /** Sends these requests, as few writes as the transport allows. */
  send(requests: readonly object[]): void;
  /** Every event payload (one JSON envelope) the server sends this client. */
  onPayload(handler: (payload: Buffer) => void): void;
  /** The connection failed or the server closed it. */
  onFailure(handler: (err: Error) => void): void;
  close(): void;
  /** Which server (node) it is connected to; latencies are also kept per same/other node. @default 0 */
  readonly node?: number;
}

export interface FanoutSpec {
  clients: number;
  window: number;
  textBytes: number;
  room: string;
  warmupMs: number;
  measureMs: number;
  /** A run in which no message completes for this long fails (ms). */
  stallMs: number;
  /**
   * Paced instead of as fast as the window allows: this many messages per
   * second in total (still at most `window` in flight). @default unpaced
   */
  ratePerSec?: number;
  /** A counter read when measuring starts and ends (Redis commands processed, say). */
  counter?: () => Promise<number>;
}

export interface FanoutResult {
  deliveredPerSec: number;
  p50Us: number;
  p99Us: number;
  serverCpuUsPerDelivery: number;
  serverCpuPct: number;
  loadgenCpuPct: number;
  /** Deliveries to clients on another node than the sender's (undefined if none). */
  crossP50Us?: number;
  crossP99Us?: number;
  /** How much `counter` rose per message sent while measuring. */
  counterPerMessage?: number;
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

/**
 * One measured run against a server already listening: opens the clients
 * with `open`, joins them (receivers first), keeps the window full for
 * warm-up plus measurement, reads the servers' CPU time from /proc (`pids`).
 */
export async function fanoutRun(
  spec: FanoutSpec,
  open: () => Promise<FanoutClient>,
  pids: readonly (number | undefined)[],
): Promise<FanoutResult> {
  const serverCpuMs = async (): Promise<number> => {
    let sum = 0;
    for (const pid of pids) sum += await processCpuMs(pid);
    return sum;
  };
  const receiversCount = spec.clients - 1;
  const clients: FanoutClient[] = [];
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
    let cross = new Float64Array(1 << 20);
    let crossSamples = 0;
    let running = true;
    let lastProgress = performance.now();
    let failure: Error | undefined;

    const receivers: FanoutClient[] = [];
    for (let i = 0; i < receiversCount; i++) receivers.push(await open());
    const sender = await open();
    clients.push(...receivers, sender);
    for (const client of clients) {
      client.onFailure((err) => {
        if (running) failure ??= err;
      });
    }

    const senderNode = sender.node ?? 0;
    const padding = 'x'.repeat(spec.textBytes);
    // Paced: how many messages may have been sent by now (a token bucket of one window).
    let credit = spec.ratePerSec === undefined ? Number.POSITIVE_INFINITY : 0;
    const pump = (): void => {
      if (!running || inFlight >= spec.window) return;
      const batch: object[] = [];
      while (inFlight < spec.window && credit >= 1) {
        credit--;
        const seq = nextSeq++;
        const text = `seq:${seq} ${padding}`.slice(0, spec.textBytes);
        sentAt[seq % RING] = performance.now();
        got[seq % RING] = 0;
        batch.push({ type: 'say', room: spec.room, text });
        inFlight++;
      }
      if (batch.length > 0) sender.send(batch);
    };
    // Paced: a tick each millisecond, so 1,000 messages/s go one by one, not in bursts
    // (a 5 ms tick sent 5 at once: 495 deliveries queued behind each other at the
    // load generator, the later ones timed with the wait). Credit follows the clock,
    // so late ticks do not lower the rate.
    const TICK_MS = 1;
    let pacer: NodeJS.Timeout | undefined;

    for (const client of receivers) {
      const isCross = (client.node ?? 0) !== senderNode;
      client.onPayload((payload) => {
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
          if (isCross) {
            if (crossSamples === cross.length) {
              const grown = new Float64Array(cross.length * 2);
              grown.set(cross);
              cross = grown;
            }
            cross[crossSamples++] = now - (sentAt[slot] as number);
          }
        }
        const count = (got[slot] as number) + 1;
        got[slot] = count;
        if (count === receiversCount) {
          inFlight--;
          lastProgress = now;
          pump();
        }
      });
    }
    sender.onPayload(() => undefined); // its receipts and room events: read and dropped

    // Join: receivers first; the room must hold all of them before the first message.
    for (const client of receivers) client.send([{ type: 'join', room: spec.room }]);
    await sleep(300);
    sender.send([{ type: 'join', room: spec.room }]);
    await sleep(100);

    const stall = setInterval(() => {
      if (performance.now() - lastProgress > spec.stallMs) failure ??= new Error('no progress');
    }, 500);
    try {
      lastProgress = performance.now();
      // Paced: credit accrues from now on, once everyone has joined.
      if (spec.ratePerSec !== undefined) {
        const rate = spec.ratePerSec;
        let last = performance.now();
        pacer = setInterval(() => {
          const now = performance.now();
          credit = Math.min(spec.window, credit + ((now - last) * rate) / 1000);
          last = now;
          pump();
        }, TICK_MS);
      }
      pump();
      await sleep(spec.warmupMs);
      const counterBefore = await spec.counter?.();
      const sentBefore = nextSeq;
      const cpuBefore = await serverCpuMs();
      const selfBefore = process.cpuUsage();
      const deliveredBefore = delivered;
      windowStart = performance.now();
      measuring = true;
      await sleep(spec.measureMs);
      measuring = false;
      const elapsed = performance.now() - windowStart;
      const count = delivered - deliveredBefore;
      const self = process.cpuUsage(selfBefore);
      const serverMs = (await serverCpuMs()) - cpuBefore;
      const sent = nextSeq - sentBefore;
      const counterAfter = await spec.counter?.();
      if (failure) throw failure;
      const sorted = latencies.subarray(0, samples).sort();
      const crossSorted = cross.subarray(0, crossSamples).sort();
      const pick = (p: number, from = sorted): number =>
        (from[Math.min(from.length - 1, Math.ceil(p * from.length) - 1)] ?? Number.NaN) * 1000;
      return {
        ...(counterBefore !== undefined && counterAfter !== undefined
          ? { counterPerMessage: (counterAfter - counterBefore) / Math.max(1, sent) }
          : {}),
        ...(crossSamples > 0
          ? { crossP50Us: pick(0.5, crossSorted), crossP99Us: pick(0.99, crossSorted) }
          : {}),
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
      if (pacer) clearInterval(pacer);
    }
  } finally {
    for (const client of clients) client.close();
  }
}

/**
 * Prints a fan-out comparison: the medians of `a` and `b` with their ratio
 * and noise, and whether a/b messages delivered per second meets `target`.
 * Returns that ratio.
 */
export function printFanout(
  title: string,
  names: readonly [string, string],
  a: readonly FanoutResult[],
  b: readonly FanoutResult[],
  target: number,
): number {
  const row = (
    name: string,
    pick: (r: FanoutResult) => number,
    format: (v: number) => string,
  ): string[] => {
    const x = median(a.map(pick));
    const y = median(b.map(pick));
    const noise = Math.max(spread(a.map(pick)), spread(b.map(pick)));
    return [name, format(x), format(y), formatRatio(x / y), `±${(noise * 100).toFixed(1)}%`];
  };
  const rows = [
    row('messages delivered/s', (r) => r.deliveredPerSec, formatCount),
    row('  p50 delivery latency (µs)', (r) => r.p50Us, formatNumber),
    row('  p99 delivery latency (µs)', (r) => r.p99Us, formatNumber),
    row('  server CPU per delivery (µs)', (r) => r.serverCpuUsPerDelivery, formatNumber),
  ];
  const ratio = median(a.map((r) => r.deliveredPerSec)) / median(b.map((r) => r.deliveredPerSec));
  console.log(`\n${title}: medians of ${a.length}\n`);
  console.log(textTable(['scenario', ...names, 'ratio', 'noise'], rows));
  console.log(
    `\n${names[0]}/${names[1]} messages delivered/s: ${formatRatio(ratio)} (target ≥ ${target}: ${ratio >= target ? 'ok' : 'BELOW'})`,
  );
  return ratio;
}

/** One line per run while a bench goes. */
export function fanoutLine(label: string, r: FanoutResult): string {
  return (
    `  ${label} ${formatCount(r.deliveredPerSec)} msgs/s  ` +
    `p50 ${formatNumber(r.p50Us)} µs  p99 ${formatNumber(r.p99Us)} µs  ` +
    `(server ${r.serverCpuPct.toFixed(0)}% CPU, ${formatNumber(r.serverCpuUsPerDelivery)} µs/delivery; ` +
    `load generator ${r.loadgenCpuPct.toFixed(0)}%)`
  );
}

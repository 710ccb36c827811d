/**
 * Bridge load for bench/web.bench.ts: request/response and throughput over a
 * message pipe, the same code driving a WebSocket to the gateway's `/echo`
 * and a framed TCP socket straight to the echo service, so the difference
 * is the gateway.
 */
import { connect } from 'node:net';
import { WebSocket } from 'ws';
import { FrameReader, frame } from '../harness/frames.js';
import { processCpuMs, sleep } from '../harness/processes.js';

/** One message in, one message out, whichever transport carries them. */
export interface Pipe {
  send(payload: Buffer): void;
  onMessage(handler: (payload: Buffer) => void): void;
  close(): void;
}

export function openTcpPipe(port: number): Promise<Pipe> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      resolve({
        send(payload) {
          socket.write(frame(payload));
        },
        onMessage(handler) {
          const reader = new FrameReader(handler);
          socket.on('data', (chunk: Buffer) => {
            reader.push(chunk);
          });
        },
        close() {
          socket.destroy();
        },
      });
    });
    socket.once('error', reject);
  });
}

export function openWsPipe(url: string): Promise<Pipe> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      resolve({
        send(payload) {
          ws.send(payload, { binary: true });
        },
        onMessage(handler) {
          ws.on('message', (data: Buffer) => {
            handler(data);
          });
        },
        close() {
          ws.terminate();
        },
      });
    });
  });
}

export interface PipeSpec {
  connections: number;
  /** Messages each connection keeps in flight (1: request/response). */
  window: number;
  size: number;
  warmupMs: number;
  measureMs: number;
}

export interface PipeResult {
  messagesPerSec: number;
  bytesPerSec: number;
  p50Us: number;
  p99Us: number;
  /** CPU time of each watched process per reply (µs), in the order of `pids`. */
  cpuUsPerReply: number[];
}

/**
 * Keeps `window` messages of `size` bytes in flight on each of
 * `connections` pipes; counts replies and their latency (send to reply,
 * which with a window of 1 is the round trip).
 */
export async function pipeRun(
  spec: PipeSpec,
  open: () => Promise<Pipe>,
  pids: readonly (number | undefined)[],
): Promise<PipeResult> {
  const pipes: Pipe[] = [];
  try {
    for (let i = 0; i < spec.connections; i++) pipes.push(await open());
    const payload = Buffer.alloc(spec.size, 'a');
    let measuring = false;
    let replies = 0;
    let windowStart = 0;
    let latencies = new Float64Array(1 << 18);
    let samples = 0;
    let running = true;
    for (const pipe of pipes) {
      const sent: number[] = [];
      pipe.onMessage((reply) => {
        const now = performance.now();
        const at = sent.shift() ?? now;
        if (reply.length !== spec.size)
          throw new Error(`reply of ${reply.length} B, sent ${spec.size}`);
        if (measuring && at >= windowStart) {
          replies++;
          if (samples === latencies.length) {
            const grown = new Float64Array(latencies.length * 2);
            grown.set(latencies);
            latencies = grown;
          }
          latencies[samples++] = now - at;
        }
        if (!running) return;
        sent.push(performance.now());
        pipe.send(payload);
      });
      for (let i = 0; i < spec.window; i++) {
        sent.push(performance.now());
        pipe.send(payload);
      }
    }
    await sleep(spec.warmupMs);
    const cpuBefore = await Promise.all(pids.map((pid) => processCpuMs(pid)));
    windowStart = performance.now();
    measuring = true;
    await sleep(spec.measureMs);
    measuring = false;
    running = false;
    const elapsed = performance.now() - windowStart;
    const cpuAfter = await Promise.all(pids.map((pid) => processCpuMs(pid)));
    const sorted = latencies.subarray(0, samples).sort();
    const pick = (p: number): number =>
      (sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN) * 1000;
    return {
      messagesPerSec: (replies * 1000) / elapsed,
      bytesPerSec: (replies * spec.size * 1000) / elapsed,
      p50Us: pick(0.5),
      p99Us: pick(0.99),
      cpuUsPerReply: cpuAfter.map(
        (after, i) => ((after - (cpuBefore[i] as number)) * 1000) / Math.max(1, replies),
      ),
    };
  } finally {
    for (const pipe of pipes) pipe.close();
  }
}

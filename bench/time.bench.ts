/**
 * UDP time requests per second: sockit's TimeServer (SNTP and RFC 868, all
 * guards on) against a minimal node:dgram responder, in the same run. Each
 * server runs in its own process; this process is the load generator: C
 * sockets, each with one request outstanding (closed loop), for D seconds,
 * several rounds alternating servers. Prints medians and sockit/baseline.
 *
 *   node --import tsx bench/time.bench.ts [--quick]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { textTable } from './harness/report.js';
import { formatCount, formatRatio, median } from './harness/stats.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 5;
const SECONDS = quick ? 1 : 2;
const CLIENTS = 32;
/** A request unanswered this long is sent again (loopback UDP does drop under load). */
const RESEND_MS = 50;

type Kind = 'sockit' | 'baseline';
type Mode = 'sntp' | 'rfc868';

async function startResponder(
  kind: Kind,
): Promise<{ child: ChildProcess; ports: Record<Mode, number> }> {
  const script = fileURLToPath(new URL('./time/responder.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, kind], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  return { child, ports: JSON.parse(first) as Record<Mode, number> };
}

function sntpRequest(): Buffer {
  const packet = Buffer.alloc(48);
  packet[0] = (4 << 3) | 3; // version 4, client mode
  return packet;
}

/** Closed-loop load: every socket keeps one request in flight; returns replies per second. */
async function load(port: number, mode: Mode): Promise<number> {
  const sockets: Socket[] = [];
  let replies = 0;
  let running = true;
  const request = mode === 'sntp' ? sntpRequest() : Buffer.alloc(0);
  for (let i = 0; i < CLIENTS; i++) {
    const socket = createSocket('udp4');
    sockets.push(socket);
    let timer: NodeJS.Timeout | undefined;
    const send = (): void => {
      if (!running) return;
      if (mode === 'sntp') request.writeUInt32BE(i, 44); // a per-socket transmit stamp
      socket.send(request, port, '127.0.0.1');
      clearTimeout(timer);
      timer = setTimeout(send, RESEND_MS);
    };
    socket.on('message', () => {
      replies++;
      send();
    });
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    socket.on('close', () => clearTimeout(timer));
    send();
  }
  // Warm-up, then measure.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const start = performance.now();
  const before = replies;
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const rate = ((replies - before) * 1000) / (performance.now() - start);
  running = false;
  for (const socket of sockets) socket.close();
  return rate;
}

async function main(): Promise<void> {
  const results: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of (round % 2 === 0
      ? ['sockit', 'baseline']
      : ['baseline', 'sockit']) as Kind[]) {
      const { child, ports } = await startResponder(kind);
      try {
        for (const mode of ['sntp', 'rfc868'] as Mode[]) {
          (results[`${kind} ${mode}`] ??= []).push(await load(ports[mode], mode));
        }
      } finally {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
  }
  const rows = (['sntp', 'rfc868'] as Mode[]).map((mode) => {
    const ours = median(results[`sockit ${mode}`] ?? []);
    const theirs = median(results[`baseline ${mode}`] ?? []);
    return [
      `UDP ${mode} req/s (${CLIENTS} clients)`,
      formatCount(ours),
      formatCount(theirs),
      formatRatio(ours / theirs),
    ];
  });
  console.log(`\ntime service: medians of ${ROUNDS} rounds × ${SECONDS} s\n`);
  console.log(textTable(['scenario', 'sockit', 'baseline', 'ratio'], rows));
}

await main();

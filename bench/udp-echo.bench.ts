/**
 * UDP echo, 64-byte datagrams, in one run: sockit's EchoServer in its default
 * mode `upper` against a minimal node:dgram responder that upper-cases too and
 * against the tutorial's blocking Python recvfrom/sendto loop
 * (bench/baseline/udp-upper-server.py, `data.upper()`). See docs/PERFORMANCE.md.
 *
 *   node --import tsx bench/udp-echo.bench.ts [--quick] [--runs N] [--duration MS] [--cpu-prof]
 *
 * Each server runs in its own process, started once and warmed up; this
 * process is the load generator: 32 UDP sockets, each with one datagram in
 * flight (closed loop, resent after 50 ms if lost), the servers taking turns
 * round by round in a rotating order. Prints medians, ratios, noise and the
 * server's CPU time per reply (from /proc). --cpu-prof writes a profile of the
 * sockit server to .bench-results/prof/udp-sockit/.
 */
import type { ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { machine, machineSummary, backgroundLoad } from './harness/machine.js';
import { intOption } from './harness/options.js';
import {
  BENCH_DIR,
  RESULTS_DIR,
  compileChildren,
  killChildren,
  killChildrenOnInterrupt,
  processCpuMs,
  spawnTracked,
  stopChild,
} from './harness/processes.js';
import { saveResults, textTable } from './harness/report.js';
import {
  formatCount,
  formatNumber,
  formatPercent,
  formatRatio,
  median,
  spread,
} from './harness/stats.js';

const JS_DIR = `${RESULTS_DIR}/js`;
const CLIENTS = 32;
const SIZE = 64;
/** A datagram unanswered this long is sent again (loopback UDP does drop under load). */
const RESEND_MS = 50;

type Kind = 'sockit' | 'dgram' | 'python';
const KINDS: readonly Kind[] = ['sockit', 'dgram', 'python'];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    duration: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
  },
  strict: true,
});
const quick = values.quick;
const RUNS = intOption(values.runs, quick ? 2 : 5, 1, 50);
const DURATION_MS = intOption(values.duration, quick ? 600 : 1_000, 100, 30_000);
const WARMUP_MS = quick ? 200 : 300;

interface Server {
  kind: Kind;
  child: ChildProcess;
  port: number;
}

async function start(kind: Kind): Promise<Server> {
  const prof =
    values['cpu-prof'] && kind === 'sockit'
      ? ['--cpu-prof', `--cpu-prof-dir=${RESULTS_DIR}/prof/udp-sockit`]
      : [];
  const child =
    kind === 'python'
      ? spawnTracked('python3', [`${BENCH_DIR}baseline/udp-upper-server.py`], {
          stdio: ['ignore', 'pipe', 'inherit'],
        })
      : spawnTracked(process.execPath, [...prof, `${JS_DIR}/udp/responder.js`, kind], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
  if (!child.stdout) throw new Error(`${kind}: no stdout`);
  const lines = createInterface({ input: child.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  const port = Number(first);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`${kind}: bad port line ${first}`);
  return { kind, child, port };
}

function payload(): Buffer {
  const alphabet = 'The quick brown fox jumps over the lazy dog 0123456789 ';
  const out = Buffer.allocUnsafe(SIZE);
  for (let i = 0; i < SIZE; i++) out[i] = alphabet.charCodeAt(i % alphabet.length);
  return out;
}
const REQUEST = payload();
const EXPECTED = Buffer.from(REQUEST.toString('latin1').toUpperCase(), 'latin1');

interface Sample {
  rate: number;
  /** Server CPU time per reply in the window (µs). */
  cpuPerReplyUs: number;
  /** Server CPU use in the window, % of one core. */
  serverCpu: number;
  /** Load generator (this process) CPU use in the window, % of one core. */
  loadCpu: number;
  resent: number;
}

/** Closed-loop load on one server: every socket keeps one datagram in flight. */
async function load(server: Server, durationMs: number): Promise<Sample> {
  const sockets: Socket[] = [];
  let replies = 0;
  let resent = 0;
  let running = true;
  let wrong: Error | undefined;
  for (let i = 0; i < CLIENTS; i++) {
    const socket = createSocket('udp4');
    sockets.push(socket);
    let timer: NodeJS.Timeout | undefined;
    const send = (): void => {
      if (!running) return;
      socket.send(REQUEST, server.port, '127.0.0.1');
      clearTimeout(timer);
      timer = setTimeout(() => {
        resent++;
        send();
      }, RESEND_MS);
    };
    let checked = false;
    socket.on('message', (msg) => {
      if (!checked) {
        checked = true;
        if (!msg.equals(EXPECTED))
          wrong ??= new Error(`${server.kind}: wrong reply ${msg.toString()}`);
      } else if (msg.length !== SIZE)
        wrong ??= new Error(`${server.kind}: reply of ${msg.length} bytes`);
      replies++;
      send();
    });
    socket.on('close', () => clearTimeout(timer));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    send();
  }
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  const pid = server.child.pid;
  const cpuBefore = await processCpuMs(pid);
  const selfBefore = process.cpuUsage();
  const before = replies;
  const resentBefore = resent;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const wallMs = performance.now() - started;
  const answered = replies - before;
  const self = process.cpuUsage(selfBefore);
  const cpuMs = (await processCpuMs(pid)) - cpuBefore;
  running = false;
  for (const socket of sockets) socket.close();
  if (wrong) throw wrong;
  return {
    rate: (answered * 1000) / wallMs,
    cpuPerReplyUs: (cpuMs * 1000) / Math.max(1, answered),
    serverCpu: (cpuMs / wallMs) * 100,
    loadCpu: ((self.user + self.system) / 1000 / wallMs) * 100,
    resent: resent - resentBefore,
  };
}

async function main(): Promise<void> {
  const m = machine();
  process.stderr.write(`udp echo bench: ${machineSummary(m)}, ${quick ? 'quick' : 'full'} run\n`);
  await compileChildren(BENCH_DIR, JS_DIR, ['udp/responder.ts', 'baseline/framed-echo-server.ts']);
  m.backgroundBefore = await backgroundLoad(1_000);
  const servers: Server[] = [];
  const samples: Record<Kind, Sample[]> = { sockit: [], dgram: [], python: [] };
  try {
    for (const kind of KINDS) servers.push(await start(kind));
    for (const server of servers) await load(server, DURATION_MS / 2); // warm-up, not counted
    for (let round = 0; round < RUNS; round++) {
      const order = [...servers.slice(round % 3), ...servers.slice(0, round % 3)];
      for (const server of order) {
        const sample = await load(server, DURATION_MS);
        samples[server.kind].push(sample);
        process.stderr.write(
          `  round ${round + 1}/${RUNS} ${server.kind.padEnd(6)} ${formatCount(sample.rate)} replies/s ` +
            `(server ${sample.serverCpu.toFixed(0)}% CPU, ${formatNumber(sample.cpuPerReplyUs)} µs/reply; ` +
            `load generator ${sample.loadCpu.toFixed(0)}%; ${sample.resent} resent)\n`,
        );
      }
    }
  } finally {
    await Promise.all(servers.map((s) => stopChild(s.child)));
  }
  const med = (kind: Kind, pick: (s: Sample) => number): number => median(samples[kind].map(pick));
  const noise = (kind: Kind): number => spread(samples[kind].map((s) => s.rate));
  const sockit = med('sockit', (s) => s.rate);
  const rows = KINDS.map((kind) => [
    kind === 'sockit'
      ? 'sockit EchoServer (upper, all guards)'
      : kind === 'dgram'
        ? 'node:dgram responder (upper, SWAR)'
        : 'Python recvfrom/sendto loop (.upper())',
    formatCount(med(kind, (s) => s.rate)),
    formatPercent(noise(kind)),
    formatRatio(sockit / med(kind, (s) => s.rate)),
    formatNumber(med(kind, (s) => s.cpuPerReplyUs)),
    `${med(kind, (s) => s.serverCpu).toFixed(0)}%`,
    `${med(kind, (s) => s.loadCpu).toFixed(0)}%`,
  ]);
  console.log(
    `\nUDP echo, ${SIZE} B datagrams, ${CLIENTS} clients with one in flight each; medians of ${RUNS} runs × ${DURATION_MS} ms\n`,
  );
  console.log(
    textTable(
      ['server', 'replies/s', 'noise', 'sockit ÷', 'server µs/reply', 'server CPU', 'loadgen CPU'],
      rows,
    ),
  );
  console.log(
    '\nsockit ÷: sockit median / this server median. server µs/reply: its CPU time (user + system, /proc) over the window per reply.',
  );
  console.log(
    `(other processes used ${formatNumber(m.backgroundBefore, 2)}% of the CPUs just before the run)`,
  );
  await saveResults('udp-echo', m.date, {
    machine: m,
    runs: RUNS,
    durationMs: DURATION_MS,
    samples,
  });
}

killChildrenOnInterrupt();
try {
  await main();
} catch (err) {
  killChildren();
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
}

/**
 * The web gateway: chat fan-out to 100 WebSocket clients against a minimal
 * hand-written `ws` broadcast, and the `/echo` bridge against the same load
 * sent straight to the echo service over TCP, in one run. See
 * docs/PERFORMANCE.md.
 *
 *   npm run bench:web                  (builds first)
 *   node --import tsx bench/web.bench.ts [--quick] [--rounds N] [--seconds S] [--only fanout|bridge] [--cpu-prof]
 *
 * Fan-out: each server in its own process (bench/web/server.ts: sockit's
 * WebGateway + ChatServer from dist/, or bench/baseline/ws-broadcast-server.ts);
 * this process runs 99 receiving and one sending `ws` client
 * (bench/chat/fanout.ts, the load chat.bench.ts puts on TCP).
 *
 * Bridge: as users run it, two CLI processes, `sockit serve echo` (default
 * upper mode) and `sockit serve web --bridge /echo=…`; the same pipe load
 * (bench/web/bridge.ts) goes once through `ws://…/echo` and once straight to
 * the echo port as u32be frames. The gateway's cost is its CPU time per
 * reply and the latency it adds.
 */
import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import {
  fanoutLine,
  fanoutRun,
  printFanout,
  type FanoutClient,
  type FanoutResult,
} from './chat/fanout.js';
import { intOption } from './harness/options.js';
import {
  BENCH_DIR,
  RESULTS_DIR,
  compileChildren,
  killChildrenOnInterrupt,
  startBenchServer,
  startServe,
  stopChild,
} from './harness/processes.js';
import { textTable } from './harness/report.js';
import { formatCount, formatNumber, formatRatio, median, spread } from './harness/stats.js';
import { openTcpPipe, openWsPipe, pipeRun, type PipeResult, type PipeSpec } from './web/bridge.js';

const JS_DIR = `${RESULTS_DIR}/js`;
const CHILD_SOURCES = [
  'web/server.ts',
  'baseline/ws-broadcast-server.ts',
  'baseline/ws-relay-server.ts',
];

const CLIENTS = 100;
const WINDOW = 32;
const TEXT_BYTES = 64;
/** Target from issue #13: gateway/baseline ≥ 0.8 in messages delivered per second. */
const FANOUT_TARGET = 0.8;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    only: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const ROUNDS = intOption(values.rounds, values.quick ? 3 : 5, 1, 99);
const MEASURE_MS = intOption(values.seconds, values.quick ? 1 : 2, 1, 600) * 1000;
const WARMUP_MS = 300;
const only = values.only;
if (only !== undefined && only !== 'fanout' && only !== 'bridge') {
  console.error('--only takes fanout or bridge');
  process.exit(2);
}

type Kind = 'sockit' | 'baseline';

/** bench/web/server.ts with these arguments; resolves once it names its port. */
function startBenchChild(args: readonly string[]): Promise<{ child: ChildProcess; port: number }> {
  return startBenchServer(
    'web/server.js',
    args,
    values['cpu-prof'] ? `${RESULTS_DIR}/prof/web-${args[0] ?? ''}` : undefined,
  );
}

/** A chat client over one WebSocket: one text message per request and per event. */
function openWsClient(url: string): Promise<FanoutClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      let failed: ((err: Error) => void) | undefined;
      let closing = false;
      ws.on('error', (err) => failed?.(err));
      ws.on('close', (code) => {
        if (!closing) failed?.(new Error(`the server closed a client (${code})`));
      });
      resolve({
        send(requests) {
          for (const request of requests) ws.send(JSON.stringify(request));
        },
        onPayload(handler) {
          ws.on('message', (data: Buffer) => {
            handler(data);
          });
        },
        onFailure(handler) {
          failed = handler;
        },
        close() {
          closing = true;
          ws.terminate();
        },
      });
    });
  });
}

async function fanoutOnce(kind: Kind): Promise<FanoutResult> {
  const { child, port } = await startBenchChild([kind]);
  try {
    return await fanoutRun(
      {
        clients: CLIENTS,
        window: WINDOW,
        textBytes: TEXT_BYTES,
        room: 'bench',
        warmupMs: WARMUP_MS,
        measureMs: MEASURE_MS,
        stallMs: 5_000,
      },
      () => openWsClient(`ws://127.0.0.1:${port}/${kind === 'sockit' ? 'ws' : ''}`),
      [child.pid],
    );
  } finally {
    await stopChild(child);
  }
}

async function fanout(): Promise<number> {
  console.error(
    `web fan-out: ${CLIENTS} WebSocket clients in one room, 1 sender, ${WINDOW} in flight, ` +
      `${TEXT_BYTES} B texts; ${ROUNDS} rounds × ${MEASURE_MS} ms after ${WARMUP_MS} ms warm-up`,
  );
  const results: Record<Kind, FanoutResult[]> = { sockit: [], baseline: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order: Kind[] = round % 2 === 0 ? ['sockit', 'baseline'] : ['baseline', 'sockit'];
    for (const kind of order) {
      const r = await fanoutOnce(kind);
      results[kind].push(r);
      console.error(fanoutLine(`${round + 1}/${ROUNDS} ${kind.padEnd(8)}`, r));
    }
  }
  return printFanout(
    `web chat fan-out (${CLIENTS} WebSocket clients, one room, one sender)`,
    ['gateway', 'ws broadcast'],
    results.sockit,
    results.baseline,
    FANOUT_TARGET,
  );
}

interface BridgeRow {
  name: string;
  spec: PipeSpec;
  /** Throughput rows report MB/s, request/response rows replies/s. */
  bytes: boolean;
}

type BridgePath = 'gateway' | 'relay' | 'direct';
const BRIDGE_PATHS: readonly BridgePath[] = ['gateway', 'relay', 'direct'];

async function bridge(): Promise<void> {
  const base = { warmupMs: WARMUP_MS, measureMs: MEASURE_MS };
  const rows: BridgeRow[] = [
    {
      name: 'rr 64 B, 1 conn',
      spec: { connections: 1, window: 1, size: 64, ...base },
      bytes: false,
    },
    {
      name: 'rr 64 B, 16 conns',
      spec: { connections: 16, window: 1, size: 64, ...base },
      bytes: false,
    },
    {
      name: '64 KiB, 1 conn, 16 in flight',
      spec: { connections: 1, window: 16, size: 64 * 1024, ...base },
      bytes: true,
    },
  ];
  const echo = await startServe(['echo', '--no-udp']);
  const web = await startServe([
    'web',
    '--bridge',
    `/echo=127.0.0.1:${echo.port}`,
    '--allow-no-origin',
  ]);
  const relay = await startBenchChild(['relay', String(echo.port)]);
  const open = {
    gateway: () => openWsPipe(`ws://127.0.0.1:${web.port}/echo`),
    relay: () => openWsPipe(`ws://127.0.0.1:${relay.port}/`),
    direct: () => openTcpPipe(echo.port),
  };
  const watched = {
    gateway: [web.child.pid],
    relay: [relay.child.pid],
    direct: [],
  };
  console.error(
    `web bridge: sockit serve web --bridge /echo=… and a hand-written ws relay, both in front of ` +
      `sockit serve echo (upper), and the echo port directly; ${ROUNDS} rounds × ${MEASURE_MS} ms per row and path`,
  );
  const table: string[][] = [];
  try {
    for (const row of rows) {
      const results: Record<BridgePath, PipeResult[]> = { gateway: [], relay: [], direct: [] };
      for (let round = 0; round < ROUNDS; round++) {
        // Rotate which path goes first, so drift on a noisy machine spreads over all three.
        for (let i = 0; i < BRIDGE_PATHS.length; i++) {
          const path = BRIDGE_PATHS[(round + i) % BRIDGE_PATHS.length] as BridgePath;
          results[path].push(await pipeRun(row.spec, open[path], watched[path]));
        }
      }
      const rate = (r: PipeResult): number => (row.bytes ? r.bytesPerSec : r.messagesPerSec);
      const format = (v: number): string =>
        row.bytes ? `${formatNumber(v / 1e6)} MB/s` : `${formatCount(v)}/s`;
      const m = (path: BridgePath, pick: (r: PipeResult) => number): number =>
        median(results[path].map(pick));
      const noise = Math.max(...BRIDGE_PATHS.map((path) => spread(results[path].map(rate))));
      const cpu = (path: BridgePath): number => m(path, (r) => r.cpuUsPerReply[0] ?? Number.NaN);
      table.push([
        row.name,
        format(m('gateway', rate)),
        format(m('relay', rate)),
        format(m('direct', rate)),
        formatRatio(m('gateway', rate) / m('relay', rate)),
        formatRatio(m('gateway', rate) / m('direct', rate)),
        `±${(noise * 100).toFixed(1)}%`,
        formatNumber(m('gateway', (r) => r.p50Us) - m('direct', (r) => r.p50Us)),
        formatNumber(m('gateway', (r) => r.p99Us)),
        formatNumber(cpu('gateway')),
        formatNumber(cpu('relay')),
      ]);
      console.error(
        `  ${row.name}: gateway ${format(m('gateway', rate))}, relay ${format(m('relay', rate))}, ` +
          `direct ${format(m('direct', rate))}`,
      );
    }
  } finally {
    await stopChild(relay.child);
    await stopChild(web.child);
    await stopChild(echo.child);
  }
  console.log(`\nweb bridge /echo: medians of ${ROUNDS}\n`);
  console.log(
    textTable(
      [
        'scenario',
        'gateway',
        'ws relay',
        'direct TCP',
        '÷ relay',
        '÷ direct',
        'noise',
        'added p50 µs',
        'gateway p99 µs',
        'gateway CPU µs/reply',
        'relay CPU µs/reply',
      ],
      table,
    ),
  );
  console.log(
    '\nws relay: bench/baseline/ws-relay-server.ts, a hand-written ws↔TCP relay with no limits (the floor). ' +
      "added p50: the gateway's median round trip minus the direct one. " +
      "CPU µs/reply: that process's CPU time per request + reply it carried.",
  );
}

killChildrenOnInterrupt();
await compileChildren(BENCH_DIR, JS_DIR, CHILD_SOURCES);
if (only !== 'bridge') await fanout();
if (only !== 'fanout') await bridge();

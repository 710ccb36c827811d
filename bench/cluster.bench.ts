/**
 * Chat across nodes: one room of 100 members split over 3 sockit nodes that
 * share it through Redis, against the same room on 1 node alone, in one run
 * (issue #14). See docs/PERFORMANCE.md.
 *
 *   npm run bench:cluster              (builds first; needs redis-server)
 *   node --import tsx bench/cluster.bench.ts [--quick] [--rounds N] [--seconds S] [--cpu-prof]
 *
 * Nodes are bench/chat/server.ts processes (a ChatServer from dist/ on a
 * RedisChatBus, rate limit raised as in bench:chat); the Redis is a
 * redis-server this bench starts on a free port (no persistence) and
 * flushes between runs. This process is the load generator
 * (bench/chat/fanout.ts): 99 receivers and one sender, client i on node
 * i mod 3, so two thirds of the receivers are on another node than the
 * sender. Rows:
 *
 * - as fast as it goes (32 messages in flight): messages delivered per
 *   second, 3 nodes ÷ 1 node (target ≥ 0.5), and Redis commands per message;
 * - paced at 1,000 messages/s: end-to-end latency to members on other nodes
 *   (target p99 ≤ 5 ms).
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { fanoutLine, fanoutRun, type FanoutResult, type FanoutSpec } from './chat/fanout.js';
import { openTcpChatClient } from './chat/tcp-client.js';
import { intOption } from './harness/options.js';
import {
  BENCH_DIR,
  RESULTS_DIR,
  compileChildren,
  killChildrenOnInterrupt,
  processCpuMs,
  spawnTracked,
  startBenchServer,
  stopChild,
} from './harness/processes.js';
import { textTable } from './harness/report.js';
import { formatCount, formatNumber, formatRatio, median, spread } from './harness/stats.js';

const JS_DIR = `${RESULTS_DIR}/js`;
const CHILD_SOURCES = ['chat/server.ts', 'baseline/broadcast-server.ts'];
const CLIENTS = 100;
const NODES = 3;
/** In flight, unpaced: enough that 3 nodes are not held to one window per round trip. */
const WINDOW = 256;
const TEXT_BYTES = 64;
const PACED_RATE = 1_000;
const THROUGHPUT_TARGET = 0.5;
const P99_TARGET_US = 5_000;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const ROUNDS = intOption(values.rounds, values.quick ? 3 : 5, 1, 99);
const MEASURE_MS = intOption(values.seconds, values.quick ? 1 : 2, 1, 600) * 1000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const info = server.address();
      server.close(() => {
        resolve(typeof info === 'object' && info !== null ? info.port : 0);
      });
    });
  });
}

async function startRedis(): Promise<{ child: ChildProcess; url: string; client: Redis }> {
  const port = await freePort();
  const child = spawnTracked(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const out = child.stdout;
  if (out === null) throw new Error('redis-server has no stdout');
  const lines = createInterface({ input: out });
  for await (const line of lines) {
    if (line.includes('Ready to accept connections')) break;
  }
  out.resume();
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  await client.connect();
  return { child, url: `redis://127.0.0.1:${port}`, client };
}

function startNode(cluster: string | undefined): Promise<{ child: ChildProcess; port: number }> {
  return startBenchServer(
    'chat/server.js',
    ['sockit', ...(cluster !== undefined ? [cluster] : [])],
    values['cpu-prof']
      ? `${RESULTS_DIR}/prof/cluster-${cluster !== undefined ? 'node' : 'alone'}`
      : undefined,
  );
}

/** Commands Redis has processed so far (every round trip a node made). */
async function redisCommands(client: Redis): Promise<number> {
  const info = await client.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

type Setup = '1 node' | '3 nodes';
interface Measured {
  result: FanoutResult;
  redisCpuUsPerMessage: number;
}

async function runOnce(
  setup: Setup,
  redis: { child: ChildProcess; url: string; client: Redis },
  paced: boolean,
): Promise<Measured> {
  await redis.client.flushall();
  const count = setup === '1 node' ? 1 : NODES;
  const nodes: { child: ChildProcess; port: number }[] = [];
  try {
    for (let i = 0; i < count; i++) nodes.push(await startNode(count > 1 ? redis.url : undefined));
    let next = 0;
    const spec: FanoutSpec = {
      clients: CLIENTS,
      window: WINDOW,
      textBytes: TEXT_BYTES,
      room: 'bench',
      warmupMs: 500,
      measureMs: MEASURE_MS,
      stallMs: 5_000,
      ...(paced ? { ratePerSec: PACED_RATE } : {}),
      counter: () => redisCommands(redis.client),
    };
    const redisCpuBefore = await processCpuMs(redis.child.pid);
    const result = await fanoutRun(
      spec,
      () => {
        const node = next++ % count;
        return openTcpChatClient((nodes[node] as { port: number }).port, node);
      },
      nodes.map((n) => n.child.pid),
    );
    const redisCpuMs = (await processCpuMs(redis.child.pid)) - redisCpuBefore;
    // Over the whole run (warm-up and joins included): an upper bound per message.
    const messages = (result.deliveredPerSec * (MEASURE_MS + spec.warmupMs)) / 1000 / (CLIENTS - 1);
    return { result, redisCpuUsPerMessage: (redisCpuMs * 1000) / Math.max(1, messages) };
  } finally {
    for (const node of nodes) await stopChild(node.child);
  }
}

async function main(): Promise<void> {
  killChildrenOnInterrupt();
  await compileChildren(BENCH_DIR, JS_DIR, CHILD_SOURCES);
  const redis = await startRedis();
  const setups: Setup[] = ['1 node', '3 nodes'];
  const fast: Record<Setup, Measured[]> = { '1 node': [], '3 nodes': [] };
  const paced: Record<Setup, Measured[]> = { '1 node': [], '3 nodes': [] };
  console.error(
    `cluster bench: ${CLIENTS} clients in one room, on 1 node alone or split over ${NODES} nodes ` +
      `sharing it through Redis; ${ROUNDS} rounds × ${MEASURE_MS} ms, unpaced (${WINDOW} in flight) ` +
      `and paced at ${PACED_RATE} messages/s`,
  );
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? setups : [...setups].reverse();
      for (const setup of order) {
        for (const isPaced of [false, true]) {
          const m = await runOnce(setup, redis, isPaced);
          (isPaced ? paced : fast)[setup].push(m);
          console.error(
            fanoutLine(`${round + 1}/${ROUNDS} ${setup} ${isPaced ? 'paced' : 'fast '}`, m.result) +
              (m.result.counterPerMessage !== undefined && setup === '3 nodes'
                ? `  redis ${formatNumber(m.result.counterPerMessage)} cmds/msg`
                : ''),
          );
        }
      }
    }
  } finally {
    redis.client.disconnect();
    await stopChild(redis.child);
  }
  const m = (list: Measured[], pick: (r: Measured) => number): number => median(list.map(pick));
  const noise = (a: Measured[], b: Measured[], pick: (r: Measured) => number): string =>
    `±${(Math.max(spread(a.map(pick)), spread(b.map(pick))) * 100).toFixed(1)}%`;
  const row = (
    name: string,
    from: Record<Setup, Measured[]>,
    pick: (r: Measured) => number,
    format: (v: number) => string,
  ): string[] => {
    const one = m(from['1 node'], pick);
    const three = m(from['3 nodes'], pick);
    return [
      name,
      format(three),
      format(one),
      formatRatio(three / one),
      noise(from['1 node'], from['3 nodes'], pick),
    ];
  };
  const rows = [
    row('unpaced: messages delivered/s', fast, (r) => r.result.deliveredPerSec, formatCount),
    row('  p50 delivery latency (µs)', fast, (r) => r.result.p50Us, formatNumber),
    row('  p99 delivery latency (µs)', fast, (r) => r.result.p99Us, formatNumber),
    row('  node CPU per delivery (µs)', fast, (r) => r.result.serverCpuUsPerDelivery, formatNumber),
    row(`paced ${PACED_RATE}/s: p50 latency (µs)`, paced, (r) => r.result.p50Us, formatNumber),
    row('  p99 latency (µs)', paced, (r) => r.result.p99Us, formatNumber),
  ];
  const crossP50 = m(paced['3 nodes'], (r) => r.result.crossP50Us ?? Number.NaN);
  const crossP99 = m(paced['3 nodes'], (r) => r.result.crossP99Us ?? Number.NaN);
  const fastCrossP99 = m(fast['3 nodes'], (r) => r.result.crossP99Us ?? Number.NaN);
  const commands = m(fast['3 nodes'], (r) => r.result.counterPerMessage ?? Number.NaN);
  const pacedCommands = m(paced['3 nodes'], (r) => r.result.counterPerMessage ?? Number.NaN);
  const redisCpu = m(fast['3 nodes'], (r) => r.redisCpuUsPerMessage);
  const ratio =
    m(fast['3 nodes'], (r) => r.result.deliveredPerSec) /
    m(fast['1 node'], (r) => r.result.deliveredPerSec);
  console.log(`\nchat across nodes (${CLIENTS} clients, one room): medians of ${ROUNDS}\n`);
  console.log(
    textTable(['scenario', `${NODES} nodes + Redis`, '1 node alone', 'ratio', 'noise'], rows),
  );
  console.log(
    [
      '',
      `paced ${PACED_RATE}/s, members on another node than the sender: p50 ${formatNumber(crossP50)} µs, ` +
        `p99 ${formatNumber(crossP99)} µs (target ≤ ${P99_TARGET_US}: ${crossP99 <= P99_TARGET_US ? 'ok' : 'BELOW'})`,
      `unpaced, other node: p99 ${formatNumber(fastCrossP99)} µs`,
      `Redis commands per message: ${formatNumber(commands)} unpaced, ${formatNumber(pacedCommands)} paced ` +
        `(XADD, each node's XREAD, heartbeats and lease renewals, over the messages sent); ` +
        `Redis CPU per message ≤ ${formatNumber(redisCpu)} µs`,
      `${NODES} nodes ÷ 1 node, messages delivered/s: ${formatRatio(ratio)} ` +
        `(target ≥ ${THROUGHPUT_TARGET}: ${ratio >= THROUGHPUT_TARGET ? 'ok' : 'BELOW'})`,
    ].join('\n'),
  );
}

await main();

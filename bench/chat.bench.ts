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
 * plain JS); this process is the load generator (bench/chat/fanout.ts): 99
 * receivers and one sender, all framed envelope sockets on node:net. Rounds
 * alternate which server goes first, each with fresh processes; medians and
 * sockit/baseline are printed.
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { fanoutLine, fanoutRun, printFanout, type FanoutResult } from './chat/fanout.js';
import { openTcpChatClient } from './chat/tcp-client.js';
import { BENCH_DIR, RESULTS_DIR, compileChildren, startBenchServer } from './harness/processes.js';

const JS_DIR = `${RESULTS_DIR}/js`;
const CHILD_SOURCES = ['chat/server.ts', 'baseline/broadcast-server.ts'];

const CLIENTS = 100;
/** Messages in flight: sent and not yet delivered to every receiver. */
const WINDOW = 32;
const TEXT_BYTES = 64;
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

async function run(kind: Kind): Promise<FanoutResult> {
  const { child, port } = await startBenchServer(
    'chat/server.js',
    [kind],
    values['cpu-prof'] ? `${RESULTS_DIR}/prof/chat-${kind}` : undefined,
  );
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
      () => openTcpChatClient(port),
      [child.pid],
    );
  } finally {
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
  const results: Record<Kind, FanoutResult[]> = { sockit: [], baseline: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order: Kind[] = round % 2 === 0 ? ['sockit', 'baseline'] : ['baseline', 'sockit'];
    for (const kind of order) {
      const r = await run(kind);
      results[kind].push(r);
      console.error(fanoutLine(`${round + 1}/${ROUNDS} ${kind.padEnd(8)}`, r));
    }
  }
  printFanout(
    `chat fan-out (${CLIENTS} clients, one room, one sender)`,
    ['sockit', 'baseline'],
    results.sockit,
    results.baseline,
    TARGET,
  );
}

await main();

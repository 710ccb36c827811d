/**
 * `npm run bench`: the echo service in its default mode (`upper`, as
 * `sockit serve echo` runs it) against a hand-written node:net framed server
 * that upper-cases too, in the same run, on loopback; `echo` mode against a
 * framed echo for information. See docs/PERFORMANCE.md.
 *
 *   npm run bench                      full run (~6 min on 2 cores)
 *   npm run bench -- --quick           shorter runs, fewer repeats (~2 min)
 *   npm run bench -- --update-docs     also rewrite the results in docs/PERFORMANCE.md
 *   npm run bench -- --only rr-16,idle scenarios by id (see SCENARIOS)
 *   npm run bench -- --runs 7 --duration 2000 --cpu-prof --count-gc
 *   npm run bench -- --from .bench-results/echo-<date>.json --update-docs   (report a saved run)
 *
 * Each server runs in its own process (bench/server.ts), the load generator in
 * another (bench/loadgen.ts); this process only starts them, alternates
 * sockit/baseline run by run, and reports medians and sockit/baseline ratios.
 * A trivial pipe server measures the load generator's own ceiling.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type {
  IdleCheckResult,
  IdleOpenResult,
  MemorySnapshot,
  RunResult,
  RunSpec,
  ServerCommand,
  ServerEvent,
  ServerKind,
  ServerStats,
} from './protocol.js';
import {
  type Machine,
  JIFFY_MS,
  backgroundLoad,
  cpuTimes,
  loadAverage,
  machine,
  machineLine,
  machineSummary,
} from './harness/machine.js';
import { intOption } from './harness/options.js';
import {
  BENCH_DIR,
  LoadGenerator,
  RESULTS_DIR,
  compileChildren,
  killChildren,
  killChildrenOnInterrupt,
  nextMessage,
  processRssKiB,
  sleep,
  spawnChild,
} from './harness/processes.js';
import {
  type Report,
  emptyReport,
  printReport,
  reportMarkdown,
  saveResults,
  updateDocBlock,
} from './harness/report.js';
import {
  formatCount,
  formatNumber,
  formatPercent,
  formatRatio,
  median,
  medianOf,
  spread,
} from './harness/stats.js';

/** The child processes' code, compiled to plain JS (see compileChildren). */
const JS_DIR = `${RESULTS_DIR}/js`;
const CHILD_SOURCES = ['server.ts', 'loadgen.ts', 'protocol.ts', 'baseline/framed-echo-server.ts'];
const SERVER_SCRIPT = `${JS_DIR}/server.js`;
const LOADGEN_SCRIPT = `${JS_DIR}/loadgen.js`;
const DOC = `${BENCH_DIR}../docs/PERFORMANCE.md`;

/** Targets from the issue (#15 §2): throughput ratios ≥ 1.0 within noise, RSS ≤ 1.2× the baseline. */
const RSS_LIMIT = 1.2;
/** 64 KiB frames upper-cased at ≥ 0.9× the speed of `echo` mode (the transform must cost almost nothing). */
const UPPER_OVER_ECHO = 0.9;
/** The headline pair: sockit's default mode against the upper-casing baseline. */
const SOCKIT: ServerKind = 'sockit-upper';
const BASELINE: ServerKind = 'baseline-upper';
/** The information pair: `reply: 'echo'` against the framed echo. */
const SOCKIT_ECHO: ServerKind = 'sockit';
const BASELINE_ECHO: ServerKind = 'baseline';

// ---------------------------------------------------------------- options

interface Options {
  runs: number;
  /** Runs of the trivial and base+pkg servers (information only). */
  extraRuns: number;
  warmupMs: number;
  durationMs: number;
  idleConnections: number;
  idleRuns: number;
  only: Set<string> | undefined;
  updateDocs: boolean;
  cpuProf: boolean;
  /** Count GCs in the servers (a PerformanceObserver, which itself shifts V8's heuristics). */
  countGc: boolean;
  /** Report a saved run (.bench-results/echo-*.json) instead of measuring. */
  from?: string | undefined;
  quick: boolean;
}

function parseOnly(list: string): Set<string> {
  const known = [...SCENARIOS.map((s) => s.id), 'idle', 'peak-rss'];
  const ids = new Set(list.split(','));
  for (const id of ids) {
    if (!known.includes(id)) {
      console.error(`unknown scenario ${id} (expected ${known.join(', ')})`);
      process.exit(2);
    }
  }
  return ids;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'idle-connections': { type: 'string' },
      only: { type: 'string' },
      'update-docs': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'count-gc': { type: 'boolean', default: false },
      from: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      [
        'usage: npm run bench -- [--quick] [--runs N] [--duration MS] [--warmup MS]',
        '                        [--idle-connections N] [--only ID,…] [--update-docs]',
        '                        [--cpu-prof] [--count-gc] [--from .bench-results/echo-….json]',
        `scenarios: ${[...SCENARIOS.map((s) => s.id), 'idle', 'peak-rss'].join(', ')}`,
      ].join('\n'),
    );
    process.exit(0);
  }
  const int = intOption;
  const quick = values.quick;
  const runs = int(values.runs, quick ? 2 : 5, 1, 50);
  return {
    quick,
    runs,
    extraRuns: Math.min(runs, quick ? 1 : 3),
    warmupMs: int(values.warmup, quick ? 200 : 300, 0, 10_000),
    durationMs: int(values.duration, quick ? 600 : 1_000, 100, 30_000),
    idleConnections: int(values['idle-connections'], 10_000, 1, 10_000),
    idleRuns: quick ? 1 : Math.min(runs, 3),
    only: values.only === undefined ? undefined : parseOnly(values.only),
    updateDocs: values['update-docs'],
    cpuProf: values['cpu-prof'],
    countGc: values['count-gc'],
    from: values.from,
  };
}

// ---------------------------------------------------------------- scenarios

type Metric = 'msgs/s' | 'req/s' | 'MB/s' | 'conns/s';

interface Scenario {
  id: string;
  title: string;
  metric: Metric;
  spec(port: number, options: Options): RunSpec;
}

/** Clients connecting at once in the accept scenario. */
const ACCEPT_CONCURRENCY = 16;
/** The load under which peak RSS is read: rr-128. */
const PEAK_SCENARIO = 'rr-128';

const SCENARIOS: readonly Scenario[] = [
  {
    id: 'pipeline-64',
    title: 'pipelined 64 B frames, 1 conn',
    metric: 'msgs/s',
    spec: (port, o) => ({
      mode: 'pipeline',
      port,
      frameSize: 64,
      connections: 1,
      windowFrames: 4096,
      batchFrames: 256,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
    }),
  },
  {
    id: 'pipeline-64x8',
    title: 'pipelined 64 B frames, 8 conns',
    metric: 'msgs/s',
    spec: (port, o) => ({
      mode: 'pipeline',
      port,
      frameSize: 64,
      connections: 8,
      windowFrames: 1024,
      batchFrames: 256,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
    }),
  },
  ...[1, 16, 128].map((connections): Scenario => ({
    id: `rr-${connections}`,
    title: `request/response 64 B, ${connections} conn${connections === 1 ? '' : 's'}`,
    metric: 'req/s',
    spec: (port, o) => ({
      mode: 'request',
      port,
      frameSize: 64,
      connections,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
    }),
  })),
  {
    id: 'bulk-64k',
    title: '64 KiB frames, 1 conn',
    metric: 'MB/s',
    spec: (port, o) => ({
      mode: 'pipeline',
      port,
      frameSize: 64 * 1024,
      connections: 1,
      windowFrames: 16,
      batchFrames: 1,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
    }),
  },
  {
    id: 'accept',
    title: 'connection accept, 16 at once',
    metric: 'conns/s',
    spec: (port, o) => ({
      mode: 'accept',
      port,
      frameSize: 64,
      connections: ACCEPT_CONCURRENCY,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
    }),
  },
];

function valueOf(metric: Metric, result: RunResult): number {
  return metric === 'MB/s'
    ? result.payloadBytes / result.seconds / 1e6
    : result.frames / result.seconds;
}

// ---------------------------------------------------------------- child processes

class ServerProcess {
  private constructor(
    readonly kind: ServerKind,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  static async start(kind: ServerKind, options: Options): Promise<ServerProcess> {
    const prof = options.cpuProf
      ? ['--cpu-prof', `--cpu-prof-dir=${RESULTS_DIR}/prof/${kind}`]
      : [];
    const child = spawnChild(SERVER_SCRIPT, options.countGc ? [kind, '--count-gc'] : [kind], prof);
    const port = await nextMessage(
      child,
      (m) => ((m as ServerEvent).event === 'listening' ? (m as { port: number }).port : undefined),
      `start ${kind}`,
    );
    return new ServerProcess(kind, port, child);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('server has no pid');
    return this.child.pid;
  }

  /** A full GC in the server; resolves with its memory use afterwards. */
  async gc(): Promise<MemorySnapshot> {
    const done = nextMessage(
      this.child,
      (m) =>
        (m as ServerEvent).event === 'gc-done'
          ? (m as { memory: MemorySnapshot }).memory
          : undefined,
      'gc',
    );
    this.child.send({ cmd: 'gc' } satisfies ServerCommand);
    return done;
  }

  async stats(): Promise<ServerStats> {
    const done = nextMessage(
      this.child,
      (m) =>
        (m as ServerEvent).event === 'stats' ? (m as { stats: ServerStats }).stats : undefined,
      'stats',
    );
    this.child.send({ cmd: 'stats' } satisfies ServerCommand);
    return done;
  }

  /** Resident set size from /proc/<pid>/status (KiB). */
  rssKiB(): Promise<number> {
    return processRssKiB(this.pid);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.send({ cmd: 'stop' } satisfies ServerCommand);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- measuring

/** One measured run of one server. */
interface Sample {
  value: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  /** Server CPU use over the whole run (connect, warm-up, window), % of one core. */
  serverCpu: number;
  /** Load generator CPU use over the run, % of one core. */
  loadgenCpu: number;
  /** CPU used by other processes during the run, % of one core. */
  otherCpu: number;
  /** Interrupt and softirq time (the kernel's loopback TCP work), % of one core. */
  irqCpu: number;
  /** Time the hypervisor took for other guests, % of one core. */
  stealCpu: number;
  /** Server CPU time per reply over the whole run (µs). */
  cpuPerMsgUs: number;
  /** Mark-compact collections in the server during the run (with --count-gc). */
  gcMajor: number | undefined;
}

interface ScenarioResult {
  scenario: Scenario;
  samples: Partial<Record<ServerKind, Sample[]>>;
}

interface IdleRun {
  kind: ServerKind;
  connections: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  perConnKiB: number;
  /** JS heap and external memory growth per connection (bytes), after a full GC. */
  heap: MemorySnapshot;
  open: IdleOpenResult;
  check: IdleCheckResult;
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function describe(metric: Metric, sample: Sample): string {
  const { value, p50Ms, p99Ms } = sample;
  let text = metric === 'MB/s' ? `${formatNumber(value)} MB/s` : `${formatCount(value)} ${metric}`;
  if (p50Ms !== undefined && p99Ms !== undefined) {
    text += `  p50 ${formatNumber(p50Ms * 1000)} µs  p99 ${formatNumber(p99Ms * 1000)} µs`;
  }
  return (
    `${text}  (CPU: server ${sample.serverCpu.toFixed(0)}%, load generator ${sample.loadgenCpu.toFixed(0)}%, ` +
    `softirq ${sample.irqCpu.toFixed(0)}%, steal ${sample.stealCpu.toFixed(0)}%, ` +
    `other processes ${sample.otherCpu.toFixed(0)}%; ` +
    `server ${formatNumber(sample.cpuPerMsgUs)} µs/msg` +
    (sample.gcMajor === undefined ? ')' : `, ${sample.gcMajor} major GCs)`)
  );
}

/** The servers of a throughput scenario: the headline pair, the echo pair, then the information-only ones. */
const COMPARED: readonly ServerKind[] = [SOCKIT, BASELINE, SOCKIT_ECHO, BASELINE_ECHO];
const EXTRA: readonly ServerKind[] = ['trivial', 'baseline-loaded'];

async function measureRun(
  server: ServerProcess,
  scenario: Scenario,
  loadgen: LoadGenerator,
  options: Options,
): Promise<Sample> {
  const before = await server.stats();
  const machineBefore = await cpuTimes();
  const selfBefore = process.cpuUsage();
  const started = performance.now();
  const result = await loadgen.run(scenario.spec(server.port, options));
  const wallMs = performance.now() - started;
  const self = process.cpuUsage(selfBefore);
  const machineAfter = await cpuTimes();
  const after = await server.stats();
  const serverMs = after.cpuMs - before.cpuMs;
  const ticks = (key: 'tasks' | 'irq' | 'steal'): number =>
    (machineAfter[key] - machineBefore[key]) * JIFFY_MS;
  // What other processes ran: all task time but the server's, the load generator's and ours.
  const otherMs = ticks('tasks') - serverMs - result.cpuMs - (self.user + self.system) / 1000;
  return {
    value: valueOf(scenario.metric, result),
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    serverCpu: (serverMs / wallMs) * 100,
    loadgenCpu: (result.cpuMs / wallMs) * 100,
    otherCpu: Math.max(0, (otherMs / wallMs) * 100),
    irqCpu: (ticks('irq') / wallMs) * 100,
    stealCpu: (ticks('steal') / wallMs) * 100,
    cpuPerMsgUs: (serverMs * 1000) / Math.max(1, result.totalFrames),
    gcMajor: options.countGc ? after.gcMajor - before.gcMajor : undefined,
  };
}

/** A run during which other processes and the hypervisor took more than this (% of a core) is repeated. */
const DISTURBED_PCT = 25;
const MAX_REPEATS = 2;
/** A machine that stays busy gets no more repeats than this in one bench (time bound). */
const REPEAT_BUDGET = 20;
/** Runs repeated because the machine was busy (reported). */
let repeated = 0;

async function measureScenario(
  scenario: Scenario,
  loadgen: LoadGenerator,
  options: Options,
): Promise<ScenarioResult> {
  const servers = new Map<ServerKind, ServerProcess>();
  const samples: Partial<Record<ServerKind, Sample[]>> = {};
  try {
    for (const kind of [...COMPARED, ...EXTRA])
      servers.set(kind, await ServerProcess.start(kind, options));
    // A warm-up run per server (JIT, socket buffers), not counted.
    for (const server of servers.values()) {
      await loadgen.run(
        scenario.spec(server.port, { ...options, durationMs: options.durationMs / 2 }),
      );
    }
    for (let round = 0; round < options.runs; round++) {
      // Alternate who goes first (within each pair, and which pair); the information-only servers run in the first rounds.
      const order: ServerKind[] = round % 2 === 0 ? [...COMPARED] : [...COMPARED].reverse();
      if (round < options.extraRuns) order.push(...EXTRA);
      for (const kind of order) {
        const server = servers.get(kind);
        if (!server) continue;
        const label = `  ${scenario.id} ${round + 1}/${options.runs} ${kind.padEnd(15)}`;
        let sample: Sample;
        for (let attempt = 0; ; attempt++) {
          await sleep(100);
          sample = await measureRun(server, scenario, loadgen, options);
          // A run that shared the machine with someone else is repeated (twice at most).
          const disturbed = sample.otherCpu + sample.stealCpu > DISTURBED_PCT;
          if (!disturbed || attempt === MAX_REPEATS || repeated >= REPEAT_BUDGET) break;
          log(`${label} disturbed (${describe(scenario.metric, sample)}): repeated`);
          repeated++;
        }
        (samples[kind] ??= []).push(sample);
        log(`${label} ${describe(scenario.metric, sample)}`);
      }
    }
  } finally {
    await Promise.all([...servers.values()].map((server) => server.stop()));
  }
  return { scenario, samples };
}

async function measureIdle(loadgen: LoadGenerator, options: Options): Promise<IdleRun[]> {
  const runs: IdleRun[] = [];
  for (let round = 0; round < options.idleRuns; round++) {
    const order: ServerKind[] = round % 2 === 0 ? [SOCKIT, BASELINE] : [BASELINE, SOCKIT];
    for (const kind of order) {
      const server = await ServerProcess.start(kind, options);
      try {
        await sleep(300);
        const memBefore = await server.gc();
        await sleep(200);
        const rssBeforeKiB = await server.rssKiB();
        const open = await loadgen.idleOpen(server.port, options.idleConnections);
        await sleep(300);
        const memAfter = await server.gc();
        await sleep(300);
        const rssAfterKiB = await server.rssKiB();
        const check = await loadgen.idleCheck();
        await loadgen.idleClose();
        const perConnKiB = (rssAfterKiB - rssBeforeKiB) / options.idleConnections;
        const perConn = (key: keyof MemorySnapshot): number =>
          (memAfter[key] - memBefore[key]) / options.idleConnections;
        const heap = {
          heapUsed: perConn('heapUsed'),
          external: perConn('external'),
          arrayBuffers: perConn('arrayBuffers'),
        };
        runs.push({
          kind,
          connections: options.idleConnections,
          rssBeforeKiB,
          rssAfterKiB,
          perConnKiB,
          heap,
          open,
          check,
        });
        log(
          `  idle round ${round + 1}/${options.idleRuns} ${kind.padEnd(12)} ` +
            `${open.answered}/${options.idleConnections} answered in ${open.seconds.toFixed(1)} s, ` +
            `RSS ${(rssBeforeKiB / 1024).toFixed(1)} → ${(rssAfterKiB / 1024).toFixed(1)} MiB ` +
            `(${perConnKiB.toFixed(2)} KiB/conn; JS heap ${(heap.heapUsed / 1024).toFixed(2)} KiB/conn, ` +
            `external ${(heap.external / 1024).toFixed(2)} KiB/conn), alive afterwards ${check.alive}/${options.idleConnections}`,
        );
      } finally {
        await server.stop();
      }
      await sleep(200);
    }
  }
  return runs;
}

/** Peak RSS (VmHWM) of a fresh server process through one run of rr-128. */
interface PeakRun {
  kind: ServerKind;
  /** VmRSS once listening, before any load (KiB). */
  startKiB: number;
  /** VmHWM after the run (KiB). */
  peakKiB: number;
  value: number;
}

async function measurePeak(loadgen: LoadGenerator, options: Options): Promise<PeakRun[]> {
  const scenario = SCENARIOS.find((s) => s.id === PEAK_SCENARIO);
  if (!scenario) throw new Error(`no scenario ${PEAK_SCENARIO}`);
  const runs: PeakRun[] = [];
  for (let round = 0; round < options.idleRuns; round++) {
    const order: ServerKind[] = round % 2 === 0 ? [SOCKIT, BASELINE] : [BASELINE, SOCKIT];
    for (const kind of order) {
      const server = await ServerProcess.start(kind, options);
      try {
        await sleep(300);
        const startKiB = await server.rssKiB();
        const result = await loadgen.run(scenario.spec(server.port, options));
        const peakKiB = await processRssKiB(server.pid, true);
        const value = valueOf(scenario.metric, result);
        runs.push({ kind, startKiB, peakKiB, value });
        log(
          `  peak RSS round ${round + 1}/${options.idleRuns} ${kind.padEnd(15)} ` +
            `${(startKiB / 1024).toFixed(1)} MiB at start, peak ${(peakKiB / 1024).toFixed(1)} MiB ` +
            `under ${scenario.id} (${formatCount(value)} ${scenario.metric})`,
        );
      } finally {
        await server.stop();
      }
      await sleep(200);
    }
  }
  return runs;
}

// ---------------------------------------------------------------- report

const HEADER = [
  'scenario',
  'sockit',
  'baseline',
  'ratio',
  'noise',
  'target',
  'ceiling',
  'base+pkg',
];

const LEGEND = [
  'sockit: EchoServer in its default mode `upper` (as `sockit serve echo` runs it); baseline: the hand-written node:net framed server upper-casing with SWAR in plain JS.',
  'echo mode rows (information): sockit `reply: echo` against the same baseline with upper-casing off.',
  'ratio: sockit/baseline medians (throughput: higher is better; latency and RSS: lower is better).',
  'noise: half the run-to-run range, the larger of the two servers.',
  `target: throughput ratio ≥ 1.0 within noise; idle and peak RSS ratio ≤ ${RSS_LIMIT} (every idle connection alive); 64 KiB upper ÷ echo ≥ ${UPPER_OVER_ECHO} within noise.`,
  'ceiling: the same load against a trivial pipe server (the load generator’s own limit).',
  'base+pkg: the upper-casing baseline in a process that has also loaded the sockit package (a control).',
];

function fmtMetric(metric: Metric, value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '–';
  return metric === 'MB/s' ? formatNumber(value) : formatCount(value);
}

function fmtMicros(us: number | undefined): string {
  return us === undefined || Number.isNaN(us) ? '–' : formatNumber(us);
}

/** Rows of one scenario: the headline pair (with a target), or the echo pair (information). */
function throughputRows(result: ScenarioResult, report: Report, headline: boolean): void {
  const { scenario, samples } = result;
  const s = samples[headline ? SOCKIT : SOCKIT_ECHO];
  const b = samples[headline ? BASELINE : BASELINE_ECHO];
  if (!s || !b) return;
  const title = headline ? scenario.title : `echo mode: ${scenario.title}`;
  const sm = median(s.map((x) => x.value));
  const bm = median(b.map((x) => x.value));
  const ratio = sm / bm;
  const noise = Math.max(spread(s.map((x) => x.value)), spread(b.map((x) => x.value)));
  const ok = ratio >= 1 - noise;
  if (headline && !ok)
    report.failures.push(
      `${scenario.title}: sockit/baseline ${formatRatio(ratio)} (noise ${formatPercent(noise)})`,
    );
  const ceiling = medianOf(samples.trivial, (x) => x.value);
  if (headline && ceiling !== undefined && ceiling < Math.max(sm, bm) * 1.1) {
    report.notes.push(
      `${scenario.title}: the load generator's ceiling (${fmtMetric(scenario.metric, ceiling)}) is not clearly above both servers; this row may be limited by the load generator`,
    );
  }
  const pct = (xs: Sample[], pick: (x: Sample) => number): string =>
    `${(medianOf(xs, pick) ?? Number.NaN).toFixed(0)}%`;
  report.notes.push(
    `${title}: CPU use (median, % of one core): server ${pct(s, (x) => x.serverCpu)} sockit, ` +
      `${pct(b, (x) => x.serverCpu)} baseline; load generator ${pct([...s, ...b], (x) => x.loadgenCpu)}; ` +
      `kernel softirq ${pct([...s, ...b], (x) => x.irqCpu)}; steal ${pct([...s, ...b], (x) => x.stealCpu)}; ` +
      `other processes ${pct([...s, ...b], (x) => x.otherCpu)}`,
  );
  const gcs = (xs: Sample[] | undefined): string =>
    xs ? `${medianOf(xs, (x) => x.gcMajor) ?? 0}` : '–';
  if ((medianOf(s, (x) => x.gcMajor) ?? 0) >= 10 || (medianOf(b, (x) => x.gcMajor) ?? 0) >= 10) {
    report.notes.push(
      `${title}: major GCs per run (median): sockit ${gcs(s)}, baseline ${gcs(b)}` +
        (headline ? `, base+pkg ${gcs(samples['baseline-loaded'])}` : ''),
    );
  }
  const extra = (kind: ServerKind, pick: (x: Sample) => number | undefined): number | undefined =>
    headline ? medianOf(samples[kind], pick) : undefined;
  report.rows.push([
    `${title} (${scenario.metric})`,
    fmtMetric(scenario.metric, sm),
    fmtMetric(scenario.metric, bm),
    formatRatio(ratio),
    formatPercent(noise),
    headline ? (ok ? (ratio >= 1 ? 'ok' : 'ok (noise)') : 'BELOW') : 'info',
    fmtMetric(
      scenario.metric,
      extra('trivial', (x) => x.value),
    ),
    fmtMetric(
      scenario.metric,
      extra('baseline-loaded', (x) => x.value),
    ),
  ]);
  for (const [name, pick] of [
    ['p50 latency (µs)', (x: Sample) => (x.p50Ms === undefined ? undefined : x.p50Ms * 1000)],
    ['p99 latency (µs)', (x: Sample) => (x.p99Ms === undefined ? undefined : x.p99Ms * 1000)],
    ['server CPU per msg (µs)', (x: Sample) => x.cpuPerMsgUs],
  ] as const) {
    const sl = medianOf(s, pick);
    const bl = medianOf(b, pick);
    if (sl === undefined || bl === undefined) continue;
    const values = (xs: Sample[]): number[] =>
      xs.map(pick).filter((v): v is number => v !== undefined);
    report.rows.push([
      `  ${name}`,
      fmtMicros(sl),
      fmtMicros(bl),
      formatRatio(sl / bl),
      formatPercent(Math.max(spread(values(s)), spread(values(b)))),
      'info',
      fmtMicros(extra('trivial', pick)),
      fmtMicros(extra('baseline-loaded', pick)),
    ]);
  }
}

/** sockit's 64 KiB frames upper-cased against the same in `echo` mode: what the transform costs. */
function upperOverEchoRow(result: ScenarioResult, report: Report): void {
  const u = result.samples[SOCKIT];
  const e = result.samples[SOCKIT_ECHO];
  if (!u || !e) return;
  const ratio = median(u.map((x) => x.value)) / median(e.map((x) => x.value));
  const noise = Math.max(spread(u.map((x) => x.value)), spread(e.map((x) => x.value)));
  const ok = ratio >= UPPER_OVER_ECHO - noise;
  if (!ok)
    report.failures.push(
      `${result.scenario.title}: sockit upper ÷ sockit echo ${formatRatio(ratio)} < ${UPPER_OVER_ECHO} (noise ${formatPercent(noise)})`,
    );
  report.rows.push([
    `  sockit upper ÷ sockit echo (${result.scenario.metric})`,
    fmtMetric(result.scenario.metric, median(u.map((x) => x.value))),
    fmtMetric(result.scenario.metric, median(e.map((x) => x.value))),
    formatRatio(ratio),
    formatPercent(noise),
    ok ? (ratio >= UPPER_OVER_ECHO ? 'ok' : 'ok (noise)') : 'BELOW',
    '–',
    '–',
  ]);
}

function peakRows(peakRuns: PeakRun[], report: Report): void {
  const sp = peakRuns.filter((r) => r.kind === SOCKIT);
  const bp = peakRuns.filter((r) => r.kind === BASELINE);
  if (sp.length === 0 || bp.length === 0) return;
  const mib = (runs: PeakRun[], pick: (r: PeakRun) => number): number =>
    median(runs.map(pick)) / 1024;
  const sk = mib(sp, (r) => r.peakKiB);
  const bk = mib(bp, (r) => r.peakKiB);
  const ratio = sk / bk;
  const ok = ratio <= RSS_LIMIT;
  if (!ok)
    report.failures.push(
      `peak RSS under ${PEAK_SCENARIO}: sockit/baseline ${formatRatio(ratio)} > ${RSS_LIMIT}`,
    );
  const noise = Math.max(spread(sp.map((r) => r.peakKiB)), spread(bp.map((r) => r.peakKiB)));
  report.rows.push([
    `peak RSS under ${PEAK_SCENARIO}, fresh process (MiB)`,
    formatNumber(sk),
    formatNumber(bk),
    formatRatio(ratio),
    formatPercent(noise),
    ok ? 'ok' : 'BELOW',
    '–',
    '–',
  ]);
  const start = (runs: PeakRun[]): number => mib(runs, (r) => r.startKiB);
  report.rows.push([
    '  RSS once listening, before load (MiB)',
    formatNumber(start(sp)),
    formatNumber(start(bp)),
    formatRatio(start(sp) / start(bp)),
    '',
    'info',
    '–',
    '–',
  ]);
  const growth = (runs: PeakRun[]): number => mib(runs, (r) => r.peakKiB - r.startKiB);
  report.rows.push([
    '  peak − start (MiB)',
    formatNumber(growth(sp)),
    formatNumber(growth(bp)),
    formatRatio(growth(sp) / growth(bp)),
    '',
    'info',
    '–',
    '–',
  ]);
}

function idleRows(idleRuns: IdleRun[], options: Options, report: Report): void {
  const si = idleRuns.filter((r) => r.kind === SOCKIT);
  const bi = idleRuns.filter((r) => r.kind === BASELINE);
  if (si.length === 0 || bi.length === 0) return;
  const sk = median(si.map((r) => r.perConnKiB));
  const bk = median(bi.map((r) => r.perConnKiB));
  const ratio = sk / bk;
  const allAlive = idleRuns.every(
    (r) => r.open.answered === r.connections && r.check.alive === r.connections,
  );
  if (ratio > RSS_LIMIT)
    report.failures.push(
      `idle RSS per connection: sockit/baseline ${formatRatio(ratio)} > ${RSS_LIMIT}`,
    );
  if (!allAlive)
    report.failures.push('idle: not every connection answered, before and after the RSS reading');
  const n = options.idleConnections.toLocaleString('en-US');
  report.rows.push([
    `${n} idle conns: server RSS (KiB/conn)`,
    formatNumber(sk),
    formatNumber(bk),
    formatRatio(ratio),
    formatPercent(
      Math.max(spread(si.map((r) => r.perConnKiB)), spread(bi.map((r) => r.perConnKiB))),
    ),
    ratio <= RSS_LIMIT && allAlive ? 'ok' : 'BELOW',
    '–',
    '–',
  ]);
  const mib = (runs: IdleRun[]): string =>
    `${formatNumber(median(runs.map((r) => (r.rssAfterKiB - r.rssBeforeKiB) / 1024)))} MiB`;
  report.rows.push([`  server RSS growth, ${n} conns`, mib(si), mib(bi), '', '', 'info', '–', '–']);
  const alive = (runs: IdleRun[]): string =>
    runs.map((r) => `${Math.min(r.open.answered, r.check.alive)}/${r.connections}`).join(', ');
  report.notes.push(
    `idle connections that answered before and after the RSS reading: sockit ${alive(si)}; baseline ${alive(bi)}`,
  );
}

function buildReport(
  results: ScenarioResult[],
  idleRuns: IdleRun[],
  peakRuns: PeakRun[],
  options: Options,
): Report {
  const report = emptyReport();
  for (const result of results) {
    throughputRows(result, report, true);
    if (result.scenario.id === 'bulk-64k') upperOverEchoRow(result, report);
  }
  idleRows(idleRuns, options, report);
  peakRows(peakRuns, report);
  for (const result of results) throughputRows(result, report, false);
  return report;
}

function resultsMarkdown(report: Report, m: Machine, options: Options): string {
  const runs = options.quick ? 'quick run (`--quick`)' : `${options.runs} runs per server`;
  return [
    `Measured ${m.date} on ${machineSummary(m)}; ${runs}, ` +
      `${options.durationMs} ms measured after ${options.warmupMs} ms of warm-up each; ${machineLine(m)}.`,
    '',
    reportMarkdown(HEADER, report, LEGEND),
  ].join('\n');
}

// ---------------------------------------------------------------- main

/** What one bench run produced: measured now, or read back with --from. */
interface Saved {
  machine: Machine;
  options: Options;
  results: ScenarioResult[];
  idle: IdleRun[];
  peak?: PeakRun[];
  repeated: number;
}

async function measureAll(options: Options): Promise<Saved> {
  const m = machine();
  log(`sockit echo bench: ${m.cpus} CPUs, Node ${m.node}, ${options.quick ? 'quick' : 'full'} run`);
  await compileChildren(BENCH_DIR, JS_DIR, CHILD_SOURCES);
  m.backgroundBefore = await backgroundLoad(1_000);
  if (m.backgroundBefore > 10) {
    log(
      `warning: other processes use ${m.backgroundBefore.toFixed(0)}% of the CPUs: expect noisy numbers`,
    );
  }
  const loadgen = new LoadGenerator(LOADGEN_SCRIPT);
  const results: ScenarioResult[] = [];
  let idle: IdleRun[] = [];
  let peak: PeakRun[] = [];
  try {
    for (const scenario of SCENARIOS) {
      if (options.only && !options.only.has(scenario.id)) continue;
      log(scenario.title);
      results.push(await measureScenario(scenario, loadgen, options));
    }
    if (!options.only || options.only.has('idle')) {
      log(`${options.idleConnections} idle connections`);
      idle = await measureIdle(loadgen, options);
    }
    if (!options.only || options.only.has('peak-rss')) {
      log(`peak RSS under ${PEAK_SCENARIO}`);
      peak = await measurePeak(loadgen, options);
    }
  } finally {
    await loadgen.exit();
  }
  m.loadAfter = await loadAverage();
  const all = results.flatMap((r) => Object.values(r.samples).flat());
  if (all.length > 0) {
    m.otherDuring = median(all.map((x) => x.otherCpu));
    m.stealDuring = median(all.map((x) => x.stealCpu));
  }
  return { machine: m, options, results, idle, peak, repeated };
}

async function save(saved: Saved): Promise<void> {
  await saveResults('echo', saved.machine.date, {
    ...saved,
    options: { ...saved.options, only: saved.options.only && [...saved.options.only] },
    results: saved.results.map((r) => ({ id: r.scenario.id, samples: r.samples })),
  });
}

/** Reads a saved run back (--from), to print or publish it again without measuring. */
async function load(file: string): Promise<Saved> {
  const json = JSON.parse(await readFile(file, 'utf8')) as Omit<Saved, 'results' | 'options'> & {
    options: Omit<Options, 'only'> & { only?: string[] };
    results: { id: string; samples: ScenarioResult['samples'] }[];
  };
  const results = json.results.map((r): ScenarioResult => {
    const scenario = SCENARIOS.find((x) => x.id === r.id);
    if (!scenario) throw new Error(`${file}: unknown scenario ${r.id}`);
    return { scenario, samples: r.samples };
  });
  const only = json.options.only ? new Set(json.options.only) : undefined;
  return { ...json, options: { ...json.options, only }, results };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const started = performance.now();
  const saved = options.from === undefined ? await measureAll(options) : await load(options.from);
  const m = saved.machine;
  const report = buildReport(saved.results, saved.idle, saved.peak ?? [], saved.options);
  if (saved.repeated > 0) {
    report.notes.push(
      `${saved.repeated} run(s) were repeated because other processes or the hypervisor took over ${DISTURBED_PCT}% of a core`,
    );
  }
  printReport(HEADER, report, LEGEND);
  console.log(`(${machineLine(m)})`);
  if (options.from === undefined) {
    log(`${((performance.now() - started) / 1000).toFixed(0)} s`);
    await save(saved);
  }
  if (options.updateDocs)
    await updateDocBlock(DOC, 'results', resultsMarkdown(report, m, saved.options));
}

killChildrenOnInterrupt();

try {
  await main();
} catch (err) {
  killChildren();
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
}

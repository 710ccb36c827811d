/**
 * The mutational fuzz loop over every parser (docs/RELIABILITY.md):
 *
 *   npm run fuzz -- --seconds 60 [--parser NAME[,NAME…]] [--seed S] [--list]
 *
 * Each parser gets `--seconds` of mutations seeded from test/corpus/<parser>/.
 * Prints execs/s per parser. A crash (anything but a value or a SockitError
 * with a known code, or an input slower than 50 ms, or an allocation sized from
 * the input's claims) is minimised and written as
 * test/corpus/<parser>/regressions/<hash>-<reason>.bin, and the run exits 1.
 * Crashes whose reason a test/corpus/<parser>/pending/ file already names are
 * known, unfixed bugs: listed, not written again, and they do not fail the run.
 *
 * Each parser runs in a worker thread; if a worker makes no progress for 5 s
 * (an endless loop), its current input is written as a `-hang` regression.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import {
  execute,
  fuzz,
  loadCorpus,
  minimise,
  reasonOfFile,
  saveCrash,
  type FuzzResult,
} from '../test/fuzz/engine.js';
import { TARGETS, targetByName } from '../test/fuzz/targets.js';

interface Job {
  parser: string;
  seconds: number;
  seed: number;
  /** [0]: execs so far; [1]: current input length; then the input bytes. */
  shared: SharedArrayBuffer;
}

const SHARED_INPUT_BYTES = 128 * 1024;
const HANG_MS = 5000;

interface WorkerReport {
  result: FuzzResult;
  written: { reason: string; path: string; size: number; originalSize: number }[];
  known: string[];
  pending: string[];
  seeds: number;
  regressions: number;
  replayFailures: string[];
}

function runJob(job: Job): WorkerReport {
  const target = targetByName(job.parser);
  const corpus = loadCorpus(target);
  const counters = new Int32Array(job.shared, 0, 2);
  const bytes = new Uint8Array(job.shared, 8);
  const knownReasons = new Set(corpus.pending.map((f) => reasonOfFile(f.name)));
  // Replay first: a seed or a regression that crashes is reported like a new crash.
  const replayFailures: string[] = [];
  for (const file of [...corpus.seeds, ...corpus.regressions]) {
    const v = execute(target, file.bytes);
    if (!v.ok && !knownReasons.has(v.reason)) replayFailures.push(`${file.name}: ${v.reason}`);
  }
  const progress = (input: Buffer): void => {
    const n = Math.min(input.length, SHARED_INPUT_BYTES);
    bytes.set(input.subarray(0, n));
    Atomics.store(counters, 1, n);
    Atomics.add(counters, 0, 1);
  };
  const result = fuzz(
    target,
    [...corpus.seeds, ...corpus.regressions].map((f) => f.bytes),
    {
      seed: job.seed,
      durationMs: job.seconds * 1000,
      knownReasons,
      maxCrashes: 5,
      beforeExec: progress,
    },
  );
  const written: WorkerReport['written'] = [];
  for (const crash of result.crashes) {
    if (crash.known) continue;
    const small = minimise(target, crash.input, crash.reason, { beforeExec: progress });
    written.push({
      reason: crash.reason,
      path: saveCrash(target, small, crash.reason),
      size: small.length,
      originalSize: crash.input.length,
    });
    console.error(
      `\n[${target.name}] crash ${crash.reason}: ${crash.detail.split('\n').slice(0, 4).join(' | ')}`,
    );
  }
  return {
    result,
    written,
    known: result.crashes.filter((c) => c.known).map((c) => c.reason),
    pending: corpus.pending.map((f) => f.name),
    seeds: corpus.seeds.length,
    regressions: corpus.regressions.length,
    replayFailures,
  };
}

if (!isMainThread) {
  parentPort?.postMessage(runJob(workerData as Job));
} else {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      parser: { type: 'string' },
      seed: { type: 'string' },
      list: { type: 'boolean', default: false },
    },
  });
  if (values.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(16)} ${t.description}`);
    process.exit(0);
  }
  const seconds = Number(values.seconds);
  if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, got ${values.seconds}`);
  const seed =
    values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
  const parsers =
    values.parser !== undefined ? values.parser.split(',') : TARGETS.map((t) => t.name);
  for (const p of parsers) targetByName(p); // fail fast on a typo
  console.log(
    `fuzz: ${parsers.length} parser(s), ${seconds} s each, seed ${seed} (repeat with --seed ${seed})`,
  );

  let failed = false;
  for (const parser of parsers) {
    const shared = new SharedArrayBuffer(8 + SHARED_INPUT_BYTES);
    const job: Job = { parser, seconds, seed, shared };
    // An eval'd loader: Node 20 will not start a worker on a .ts file even with tsx imported.
    const worker = new Worker(
      `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`,
      { eval: true, workerData: job },
    );
    const counters = new Int32Array(shared, 0, 2);
    let last = -1;
    let lastChange = performance.now();
    const report = await new Promise<WorkerReport | 'hang'>((resolve, reject) => {
      const watchdog = setInterval(() => {
        const now = Atomics.load(counters, 0);
        if (now !== last) {
          last = now;
          lastChange = performance.now();
        } else if (now > 0 && performance.now() - lastChange > HANG_MS) {
          clearInterval(watchdog);
          resolve('hang');
        }
      }, 250);
      worker.once('message', (r: WorkerReport) => {
        clearInterval(watchdog);
        resolve(r);
      });
      worker.once('error', (err) => {
        clearInterval(watchdog);
        reject(err);
      });
    });
    if (report === 'hang') {
      const n = Atomics.load(counters, 1);
      const input = Buffer.from(new Uint8Array(shared, 8, n));
      await worker.terminate();
      const path = saveCrash(targetByName(parser), input, 'hang');
      console.log(
        `${parser.padEnd(16)} HANG: no progress for ${HANG_MS} ms; input written to ${path}`,
      );
      failed = true;
      continue;
    }
    await worker.terminate();
    const r = report.result;
    console.log(
      `${parser.padEnd(16)} ${String(r.execs).padStart(9)} execs ${r.execsPerSecond.toFixed(0).padStart(7)} execs/s` +
        `  corpus ${report.seeds} seeds + ${report.regressions} regressions` +
        `  outcomes ${r.outcomes}  new crashes ${report.written.length}` +
        (report.known.length > 0 ? `  known (pending) ${report.known.join(', ')}` : ''),
    );
    for (const w of report.written) {
      console.log(
        `  CRASH ${w.reason}: minimised ${w.originalSize} → ${w.size} bytes, written to ${w.path}`,
      );
      failed = true;
    }
    for (const f of report.replayFailures) {
      console.log(`  REPLAY FAILED ${f}`);
      failed = true;
    }
    if (report.pending.length > 0)
      console.log(`  pending (skipped in replay): ${report.pending.join(', ')}`);
  }
  if (failed) {
    console.log(
      'fuzz: crashes found (see above); move a fixed one from pending/ or keep it in regressions/',
    );
    process.exitCode = 1;
  }
}

/**
 * What TLS costs: `sockit serve echo --reply echo` plain and with `--tls` (its
 * own self-signed identity), in the same run, each in its own process, rounds
 * alternating. The load is the echo bench's load generator (bench/loadgen.ts,
 * compiled, in its own process) on node:net or node:tls sockets:
 * - rr-1, rr-16: 1 and 16 connections, one 64 B request in flight each (req/s);
 * - bulk: one connection, 64 KiB frames, 16 in flight (MB/s each way);
 * - upload: a 1 GiB file through the files service (`sockit put`), with --upload.
 * Besides throughput it reads the server's CPU time per reply from /proc, the
 * part of the cost that is the server's: the load generator pays for TLS too,
 * on the same two cores. Prints medians and TLS ÷ plain (targets: rr ≥ 0.8,
 * bulk ≥ 0.7).
 *
 *   npm run bench:tls [-- --quick] [-- --reply upper]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BENCH_DIR,
  CLI,
  LoadGenerator,
  RESULTS_DIR,
  compileChildren,
  killChildren,
  processCpuMs as cpuMs,
  startServe,
  stopChild,
} from './harness/processes.js';
import { textTable } from './harness/report.js';
import { formatCount, formatNumber, formatRatio, median, spread } from './harness/stats.js';
import type { RunSpec } from './protocol.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    upload: { type: 'boolean', default: false },
    reply: { type: 'string', default: 'echo' },
  },
});
const ROUNDS = flags.quick ? 3 : 5;
const DURATION_MS = flags.quick ? 1000 : 2000;
const WARMUP_MS = 300;
const UPLOAD_BYTES = (flags.quick ? 256 : 1024) * 1024 * 1024;

const WORK = join(RESULTS_DIR, 'tls');
const JS_DIR = `${WORK}/js`;

type Kind = 'plain' | 'tls';

interface Scenario {
  id: string;
  label: string;
  unit: 'req/s' | 'MB/s';
  target: number;
  spec(port: number, tls: boolean): RunSpec;
}

const SCENARIOS: readonly Scenario[] = [
  ...[1, 16].map((connections): Scenario => ({
    id: `rr-${connections}`,
    label: `echo rr, ${connections} conn${connections === 1 ? '' : 's'} (req/s)`,
    unit: 'req/s',
    target: 0.8,
    spec: (port, tls) => ({
      mode: 'request',
      port,
      frameSize: 64,
      connections,
      warmupMs: WARMUP_MS,
      durationMs: DURATION_MS,
      tls,
    }),
  })),
  {
    id: 'bulk',
    label: 'echo 64 KiB frames, 1 conn (MB/s)',
    unit: 'MB/s',
    target: 0.7,
    spec: (port, tls) => ({
      mode: 'pipeline',
      port,
      frameSize: 64 * 1024,
      connections: 1,
      windowFrames: 16,
      batchFrames: 1,
      warmupMs: WARMUP_MS,
      durationMs: DURATION_MS,
      tls,
    }),
  },
];

async function upload(
  kind: Kind,
  port: number,
  file: string,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const name = `bulk-${kind}-${Date.now()}`;
  const args = [CLI, 'put', `127.0.0.1:${port}`, file, '--as', name, '--json'];
  if (kind === 'tls') args.push('--trust-on-first-use');
  const start = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`sockit put exited ${code}`);
  return UPLOAD_BYTES / ((performance.now() - start) / 1000) / 1e6;
}

async function main(): Promise<void> {
  await mkdir(WORK, { recursive: true });
  await compileChildren(BENCH_DIR, JS_DIR, ['loadgen.ts', 'protocol.ts']);
  const home = join(WORK, 'home');
  await rm(home, { recursive: true, force: true });
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_DATA_HOME: join(home, 'data'),
  };
  const tokenFile = join(WORK, 'token');
  await writeFile(tokenFile, 'a'.repeat(64));
  await chmod(tokenFile, 0o600);
  const file = join(WORK, 'upload.bin');
  if (flags.upload) {
    await writeFile(file, '');
    await truncate(file, UPLOAD_BYTES);
  }
  const results: Record<string, number[]> = {};
  const add = (key: string, value: number): void => {
    (results[key] ??= []).push(value);
  };
  const loadgen = new LoadGenerator(join(JS_DIR, 'loadgen.js'));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order: Kind[] = round % 2 === 0 ? ['plain', 'tls'] : ['tls', 'plain'];
      for (const kind of order) {
        const tls = kind === 'tls' ? ['--tls'] : [];
        const echo = await startServe(['echo', '--no-udp', '--reply', flags.reply, ...tls], env);
        try {
          for (const scenario of SCENARIOS) {
            const before = await cpuMs(echo.child.pid);
            const loadBefore = await cpuMs(loadgen.pid);
            const result = await loadgen.run(scenario.spec(echo.port, kind === 'tls'));
            const serverMs = (await cpuMs(echo.child.pid)) - before;
            const loadMs = (await cpuMs(loadgen.pid)) - loadBefore;
            const value =
              scenario.unit === 'MB/s'
                ? result.payloadBytes / result.seconds / 1e6
                : result.frames / result.seconds;
            add(`${scenario.id} ${kind}`, value);
            add(`${scenario.id}-cpu ${kind}`, (serverMs * 1000) / result.totalFrames);
            add(`${scenario.id}-load ${kind}`, (loadMs * 1000) / result.totalFrames);
            console.error(
              `  round ${round + 1}/${ROUNDS} ${kind.padEnd(5)} ${scenario.id.padEnd(5)} ` +
                `${formatNumber(value)} ${scenario.unit}, CPU per reply: server ` +
                `${formatNumber((serverMs * 1000) / result.totalFrames)} µs, load generator ` +
                `${formatNumber((loadMs * 1000) / result.totalFrames)} µs`,
            );
          }
        } finally {
          await stopChild(echo.child);
        }
        if (flags.upload) {
          const root = join(WORK, `root-${kind}`);
          await rm(root, { recursive: true, force: true });
          const files = await startServe(
            ['files', '--root', root, '--token-file', tokenFile, '--allow-overwrite', ...tls],
            env,
          );
          try {
            add(
              `upload ${kind}`,
              await upload(kind, files.port, file, { ...env, SOCKIT_TOKEN: 'a'.repeat(64) }),
            );
          } finally {
            await stopChild(files.child);
            await rm(root, { recursive: true, force: true });
          }
        }
      }
    }
  } finally {
    await loadgen.exit().catch(() => undefined);
    killChildren();
    if (flags.upload) await rm(file, { force: true });
  }
  const rows: string[][] = [];
  const row = (label: string, key: string, format: (v: number) => string, target = ''): void => {
    const plain = results[`${key} plain`] ?? [];
    const secure = results[`${key} tls`] ?? [];
    const noise = Math.max(spread(plain), spread(secure));
    rows.push([
      label,
      format(median(secure)),
      format(median(plain)),
      formatRatio(median(secure) / median(plain)),
      `±${Math.round(noise * 100)}%`,
      target,
    ]);
  };
  for (const scenario of SCENARIOS) {
    row(
      scenario.label,
      scenario.id,
      scenario.unit === 'req/s' ? formatCount : formatNumber,
      `≥ ${scenario.target}`,
    );
    row('  server CPU per reply (µs)', `${scenario.id}-cpu`, (v) => formatNumber(v), 'info');
    row(
      '  load generator CPU per reply (µs)',
      `${scenario.id}-load`,
      (v) => formatNumber(v),
      'info',
    );
  }
  if (flags.upload)
    row(
      `put ${UPLOAD_BYTES / 1048576} MiB, hashed + fsynced (MB/s)`,
      'upload',
      formatNumber,
      '≥ 0.7',
    );
  console.log(
    `\nTLS vs plain TCP (serve echo --reply ${flags.reply}): medians of ${ROUNDS} rounds × ${DURATION_MS / 1000} s\n`,
  );
  console.log(textTable(['scenario', 'TLS', 'plain', 'TLS ÷ plain', 'noise', 'target'], rows));
  console.log(
    '\nCPU per reply: user+system time of the serve process (or of the load generator) over the whole run, warm-up included, ÷ replies; lower is better.',
  );
}

await main();

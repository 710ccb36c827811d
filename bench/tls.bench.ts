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
 * Then the same TLS load against the TLS echo servers a user would otherwise
 * pick (issue #15), each in its fastest correct configuration found here, on
 * an EC P-256 certificate made with openssl for the run:
 * - `socat -b 131072 OPENSSL-LISTEN:PORT,fork,reuseaddr,cert=…,key=…,verify=0 PIPE`:
 *   a forked process per connection echoing through a pipe buffer;
 * - `ncat --ssl --ssl-cert … --ssl-key … -k -l 127.0.0.1 PORT --exec /bin/cat`:
 *   one ncat relaying to a `cat` per connection (ncat has no echo of its own).
 * Their CPU per reply counts their forked children (live ones and, through
 * cutime/cstime, the ones that exited). Target: sockit ≥ 1.0× the best peer
 * on rr 16 and 64 KiB.
 *
 *   npm run bench:tls [-- --quick] [-- --reply upper]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
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
  sleep,
  spawnTracked,
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

type Kind = 'plain' | 'tls' | 'socat' | 'ncat';
const PEERS = ['socat', 'ncat'] as const;
type Peer = (typeof PEERS)[number];

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

/** User + system CPU (ms) of a process, its reaped children (cutime/cstime) and its live descendants. */
async function treeCpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  const stat = async (p: number): Promise<string[] | undefined> => {
    try {
      const text = await readFile(`/proc/${p}/stat`, 'utf8');
      return text.slice(text.lastIndexOf(')') + 2).split(' ');
    } catch {
      return undefined; // exited meanwhile: its time is in its parent's cutime once reaped
    }
  };
  const all = await readdir('/proc');
  const parents = new Map<number, number[]>();
  for (const name of all) {
    if (!/^\d+$/.test(name)) continue;
    const f = await stat(Number(name));
    if (f === undefined) continue;
    const ppid = Number(f[1]);
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
  }
  const TICK_MS = 10;
  let ticks = 0;
  const visit = async (p: number, root: boolean): Promise<void> => {
    const f = await stat(p);
    if (f === undefined) return;
    ticks += Number(f[11]) + Number(f[12]);
    if (root) ticks += Number(f[13]) + Number(f[14]);
    for (const child of parents.get(p) ?? []) await visit(child, false);
  };
  await visit(pid, true);
  return ticks * TICK_MS;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
async function listening(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (child.exitCode !== null) throw new Error(`${child.spawnfile} exited ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(10);
  }
  throw new Error(`nothing listens on ${port}`);
}

async function startPeer(
  peer: Peer,
  port: number,
  cert: string,
  key: string,
): Promise<ChildProcess> {
  const child =
    peer === 'socat'
      ? spawnTracked('socat', [
          // Its fastest here: with the default 8 KiB buffer, 64 KiB echo ran at 404 MB/s, not 484.
          '-b',
          '131072',
          `OPENSSL-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr,cert=${cert},key=${key},verify=0`,
          'PIPE',
        ])
      : spawnTracked('ncat', [
          '--ssl',
          '--ssl-cert',
          cert,
          '--ssl-key',
          key,
          '-k',
          '-l',
          '127.0.0.1',
          String(port),
          '--exec',
          '/bin/cat',
        ]);
  await listening(port, child);
  return child;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

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
  const peers = PEERS.filter((peer) => spawnSync('sh', ['-c', `command -v ${peer}`]).status === 0);
  for (const peer of PEERS) {
    if (!peers.includes(peer))
      console.error(`NOTE: ${peer} is not installed: its rows are skipped`);
  }
  const cert = join(WORK, 'peer-cert.pem');
  const key = join(WORK, 'peer-key.pem');
  if (peers.length > 0) {
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr.toString()}`);
  }
  const measure = async (
    kind: Kind,
    port: number,
    serverCpuMs: () => Promise<number>,
  ): Promise<void> => {
    for (const scenario of SCENARIOS) {
      const before = await serverCpuMs();
      const loadBefore = await cpuMs(loadgen.pid);
      const result = await loadgen.run(scenario.spec(port, kind !== 'plain'));
      const serverMs = (await serverCpuMs()) - before;
      const loadMs = (await cpuMs(loadgen.pid)) - loadBefore;
      const value =
        scenario.unit === 'MB/s'
          ? result.payloadBytes / result.seconds / 1e6
          : result.frames / result.seconds;
      add(`${scenario.id} ${kind}`, value);
      add(`${scenario.id}-cpu ${kind}`, (serverMs * 1000) / result.totalFrames);
      add(`${scenario.id}-load ${kind}`, (loadMs * 1000) / result.totalFrames);
      console.error(
        `  ${kind.padEnd(5)} ${scenario.id.padEnd(5)} ` +
          `${formatNumber(value)} ${scenario.unit}, CPU per reply: server ` +
          `${formatNumber((serverMs * 1000) / result.totalFrames)} µs, load generator ` +
          `${formatNumber((loadMs * 1000) / result.totalFrames)} µs`,
      );
    }
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const kinds: Kind[] = ['plain', 'tls', ...peers];
      // Rotate which server goes first, so drift on a noisy machine spreads over all of them.
      const order = kinds.map((_k, i) => kinds[(round + i) % kinds.length] as Kind);
      console.error(`round ${round + 1}/${ROUNDS}`);
      for (const kind of order) {
        if (kind === 'socat' || kind === 'ncat') {
          const port = await freePort();
          const child = await startPeer(kind, port, cert, key);
          try {
            await measure(kind, port, () => treeCpuMs(child.pid));
          } finally {
            await stopChild(child);
          }
          continue;
        }
        const tls = kind === 'tls' ? ['--tls'] : [];
        const echo = await startServe(['echo', '--no-udp', '--reply', flags.reply, ...tls], env);
        try {
          await measure(kind, echo.port, () => cpuMs(echo.child.pid));
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
  if (peers.length === 0) return;
  const peerRows: string[][] = [];
  for (const scenario of SCENARIOS) {
    const format = scenario.unit === 'req/s' ? formatCount : formatNumber;
    const m = (key: string): number => median(results[key] ?? []);
    const ours = m(`${scenario.id} tls`);
    const best = Math.max(...peers.map((peer) => m(`${scenario.id} ${peer}`)));
    const noise = Math.max(
      ...['tls', ...peers].map((kind) => spread(results[`${scenario.id} ${kind}`] ?? [])),
    );
    const gate = scenario.id === 'rr-16' || scenario.id === 'bulk';
    peerRows.push([
      scenario.label,
      format(ours),
      ...PEERS.map((peer) => {
        if (!peers.includes(peer)) return '—';
        const v = m(`${scenario.id} ${peer}`);
        // ncat --exec blocks writing to cat while cat blocks writing back: a full window stalls it.
        return v > 0 ? format(v) : 'stalls';
      }),
      formatRatio(ours / best),
      `±${Math.round(noise * 100)}%`,
      gate ? `≥ 1.0: ${ours / best >= 1 ? 'ok' : 'BELOW'}` : 'info',
    ]);
    peerRows.push([
      '  server CPU per reply (µs)',
      formatNumber(m(`${scenario.id}-cpu tls`)),
      ...PEERS.map((peer) =>
        peers.includes(peer) ? formatNumber(m(`${scenario.id}-cpu ${peer}`)) : '—',
      ),
      '',
      '',
      '',
    ]);
  }
  console.log(
    `\nTLS echo servers, the same TLS load: sockit serve echo --tls --reply ${flags.reply} against socat and ncat\n`,
  );
  console.log(
    textTable(['scenario', 'sockit', ...PEERS, '÷ best peer', 'noise', 'target'], peerRows),
  );
  console.log(
    '\nsocat: -b 131072 OPENSSL-LISTEN,fork … PIPE (a process per connection); ncat: --ssl -k --exec /bin/cat (a cat per connection); their CPU includes those children.',
  );
}

await main();

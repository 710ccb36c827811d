/**
 * exec service, against baselines without ssh, in the same run:
 * - latency of `true`: a fresh connection + hello/auth + run + exit, and a
 *   run on a warm connection, against a local child_process.spawn('true');
 * - throughput of `cat` of a 1 GiB file to a client that discards it, against
 *   `socat TCP-LISTEN EXEC:"cat FILE"` read by the same kind of client.
 * The sockit server is `sockit serve exec` in its own process (default
 * logging: the audit lines are part of the cost); rounds alternate.
 *
 *   npm run bench:exec [-- --quick]
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, rm, truncate, writeFile, chmod } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable, type Readable } from 'node:stream';
import { ExecClient, parseAddress, type Address } from '../src/index.js';
import { CLI, RESULTS_DIR } from './harness/processes.js';
import { textTable } from './harness/report.js';
import { formatNumber, formatRatio, median } from './harness/stats.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 5;
const LATENCY_OPS = quick ? 50 : 200;
const BULK_BYTES = (quick ? 256 : 1024) * 1024 * 1024;

const WORK = join(RESULTS_DIR, 'exec');

async function startServer(
  tokenFile: string,
): Promise<{ child: ChildProcessByStdio<null, Readable, null>; address: Address }> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', 'exec', '--port', '0', '--token-file', tokenFile, '--max-commands', '64'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const record = JSON.parse(line) as { event?: string; services?: { addresses: string[] }[] };
    if (record.event === 'ready') {
      const tcp = record.services?.[0]?.addresses[0]?.replace(/^tcp /, '') ?? '';
      // Keep draining the log so the server never blocks on a full pipe.
      child.stdout.resume();
      return { child, address: parseAddress(tcp, { port: 0 }) };
    }
  }
  throw new Error('server exited before ready');
}

class Discard extends Writable {
  bytes = 0;
  override _write(chunk: Buffer, _e: BufferEncoding, done: () => void): void {
    this.bytes += chunk.length;
    done();
  }
}

async function spawnTrue(): Promise<void> {
  const child = spawn('true', { stdio: 'ignore' });
  await once(child, 'close');
}

/** Median milliseconds per operation over `ops` sequential runs. */
async function timeOps(ops: number, op: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < ops; i++) {
    const start = performance.now();
    await op();
    times.push(performance.now() - start);
  }
  return median(times);
}

async function sockitBulk(address: Address, token: string, file: string): Promise<number> {
  const client = await ExecClient.connect(address, { token });
  const sink = new Discard();
  const start = performance.now();
  const exit = await client.run({ argv: ['cat', file] }, { stdout: sink, stderr: new Discard() });
  const seconds = (performance.now() - start) / 1000;
  await client.close();
  if (exit.code !== 0 || sink.bytes !== BULK_BYTES) throw new Error(`sockit cat: ${sink.bytes} B`);
  return BULK_BYTES / seconds / 1e6;
}

async function socatBulk(file: string): Promise<number> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const socat = spawn(
    'socat',
    [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`, `EXEC:cat ${file}`],
    {
      stdio: 'ignore',
    },
  );
  try {
    // socat listens before it accepts; retry the connect until it is there.
    for (let attempt = 0; ; attempt++) {
      const socket = netConnect({ host: '127.0.0.1', port });
      try {
        await once(socket, 'connect');
      } catch (err) {
        socket.destroy();
        if (attempt > 100) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      let bytes = 0;
      const start = performance.now();
      socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
      await once(socket, 'end');
      const seconds = (performance.now() - start) / 1000;
      socket.destroy();
      if (bytes !== BULK_BYTES) throw new Error(`socat cat: ${bytes} B`);
      return BULK_BYTES / seconds / 1e6;
    }
  } finally {
    socat.kill();
  }
}

async function main(): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v socat']).status !== 0) {
    throw new Error(
      'socat is not installed (apt-get install socat): it is the throughput baseline',
    );
  }
  await mkdir(WORK, { recursive: true });
  const tokenFile = join(WORK, 'token');
  const token = randomBytes(32).toString('hex');
  await writeFile(tokenFile, token);
  await chmod(tokenFile, 0o600);
  const file = join(WORK, 'bulk.bin');
  await rm(file, { force: true });
  await writeFile(file, '');
  await truncate(file, BULK_BYTES); // sparse: reading it measures the pipes and sockets, not a disk

  const results: Record<string, number[]> = {};
  const add = (key: string, value: number): void => {
    (results[key] ??= []).push(value);
  };
  const { child, address } = await startServer(tokenFile);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      add('spawn', await timeOps(LATENCY_OPS, spawnTrue));
      add(
        'cold',
        await timeOps(LATENCY_OPS, async () => {
          const client = await ExecClient.connect(address, { token });
          await client.run({ argv: ['true'] }, { stdout: new Discard(), stderr: new Discard() });
          await client.close();
        }),
      );
      const warm = await ExecClient.connect(address, { token });
      add(
        'warm',
        await timeOps(LATENCY_OPS, async () => {
          await warm.run({ argv: ['true'] }, { stdout: new Discard(), stderr: new Discard() });
        }),
      );
      await warm.close();
      const order = round % 2 === 0 ? ['sockit', 'socat'] : ['socat', 'sockit'];
      for (const kind of order) {
        add(
          kind,
          kind === 'sockit' ? await sockitBulk(address, token, file) : await socatBulk(file),
        );
      }
    }
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await rm(file, { force: true });
  }
  const spawnMs = median(results.spawn ?? []);
  const cold = median(results.cold ?? []);
  const warm = median(results.warm ?? []);
  const ours = median(results.sockit ?? []);
  const socat = median(results.socat ?? []);
  console.log(
    `\nexec service: medians of ${ROUNDS} rounds (latency: median of ${LATENCY_OPS} sequential runs each; bulk: ${BULK_BYTES / 1024 / 1024} MiB)\n`,
  );
  console.log(
    textTable(
      ['scenario', 'sockit', 'baseline', 'sockit ÷ baseline'],
      [
        [
          '`true`, new connection + auth (ms, lower is better)',
          formatNumber(cold),
          formatNumber(spawnMs),
          `${formatRatio(cold / spawnMs)}×`,
        ],
        [
          '`true`, warm connection (ms, lower is better)',
          formatNumber(warm),
          formatNumber(spawnMs),
          `${formatRatio(warm / spawnMs)}×`,
        ],
        [
          '`cat` 1 file to a discarding client (MB/s)',
          formatNumber(ours),
          formatNumber(socat),
          formatRatio(ours / socat),
        ],
      ],
    ),
  );
  console.log('\nbaselines: local child_process.spawn("true"); socat TCP-LISTEN EXEC:"cat FILE"');
}

await main();

/**
 * `npm run bench:files`: 1 GiB upload and download, /dev/shm to /dev/shm, over
 * loopback, against socat copying the same file without hashing, in the same
 * run; then a 1 GiB upload broken at 50 % and resumed. See docs/PERFORMANCE.md.
 *
 * socat runs as a user who wants it fast would run it, `-b 131072` on both
 * sides (its default 8 KiB buffer takes about twice as long here). One
 * warm-up round of all three comes first, not counted. Besides wall time it
 * reads the CPU time (user + system) of each side: socat's two processes,
 * the CLI client and the server.
 *
 *   npm run bench:files                     3 runs of each after a warm-up round (~3 min on 2 cores)
 *   npm run bench:files -- --runs 5 --size 512m
 *
 * sockit runs as the real CLI (`sockit serve files`, `sockit put`, `sockit get`),
 * so process start-up is in its times as it is in socat's. sockit hashes
 * (sha256) on both sides, fsyncs, verifies and renames; socat only copies.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TICKS_PER_SECOND, processCpuMs } from './harness/processes.js';
import { median, spread } from './stats.js';

const CLI =
  process.env.SOCKIT_CLI ?? fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const TOKEN = 'bench-token-0123456789abcdef0123';
const MiB = 1024 * 1024;
/** socat's buffer: its default (8192) halves its speed here; a user copying a big file raises it. */
const SOCAT_BUFFER = '131072';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    size: { type: 'string', default: '1024m' },
    dir: { type: 'string', default: '/dev/shm' },
  },
});
const runs = Number(values.runs);
const size = /^(\d+)m$/i.test(values.size)
  ? Number(values.size.slice(0, -1)) * MiB
  : Number(values.size);

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  return port;
}

/** CPU time (ms) of this process's children that have exited and been waited for. */
async function reapedChildrenCpuMs(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  // cutime and cstime: the 16th and 17th fields, after the parenthesised command name.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS_PER_SECOND;
}

function timed(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited ${code}`));
      else resolve({ ms: performance.now() - started, stdout });
    });
  });
}

/** Warmed beyond the file's size: the receiving process's own heap and socket buffers. */
const WARM_EXTRA = 256 * MiB;

/**
 * Writes and deletes a file of `bytes` in `dir`, just before a timed
 * transfer, so that its destination file gets memory the guest touched a
 * moment ago. On this VM (Firecracker, virtio-balloon free page reporting)
 * the host takes back pages the guest has left free for about 2 s; writing
 * 1 GiB into such pages took a `sockit get` 2.6-3.7 s instead of 1.5-1.8 s,
 * all of it kernel time in the copy into the tmpfs pages. Whichever
 * transfer came right after a delete got warm pages, whichever came later
 * got cold ones; now each one starts from the same state.
 */
async function warmPages(dir: string, bytes: number): Promise<void> {
  const path = join(dir, 'warm.tmp');
  const block = Buffer.alloc(8 * MiB);
  const fh = await open(path, 'w');
  try {
    for (let pos = 0; pos < bytes; pos += block.length) await fh.write(block, 0, block.length, pos);
  } finally {
    await fh.close();
    await rm(path, { force: true });
  }
}

async function makeSource(path: string): Promise<void> {
  const block = randomBytes(MiB);
  const fh = await open(path, 'w');
  for (let pos = 0, i = 0; pos < size; pos += MiB, i++) {
    block.writeUInt32BE(i, 0);
    await fh.write(block, 0, Math.min(MiB, size - pos), pos);
  }
  await fh.close();
}

/** socat TCP-LISTEN → file, socat file → TCP: the time until the receiver has written everything. */
async function socatCopy(src: string, dest: string): Promise<{ ms: number; cpuMs: number }> {
  const port = await freePort();
  const receiver = spawn(
    'socat',
    [
      '-u',
      '-b',
      SOCAT_BUFFER,
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`,
      `OPEN:${dest},creat,trunc`,
    ],
    {
      stdio: 'ignore',
    },
  );
  const received = once(receiver, 'close');
  // Connect as soon as it listens.
  for (let i = 0; i < 200; i++) {
    const probe = spawnSync('sh', ['-c', `ss -ltn | grep -q ':${port} '`]);
    if (probe.status === 0) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const cpu0 = await reapedChildrenCpuMs();
  const t0 = performance.now();
  await timed('socat', ['-u', '-b', SOCAT_BUFFER, `OPEN:${src}`, `TCP:127.0.0.1:${port}`]);
  await received;
  const ms = performance.now() - t0;
  return { ms, cpuMs: (await reapedChildrenCpuMs()) - cpu0 };
}

function rate(ms: number): number {
  return size / MiB / (ms / 1000);
}

async function main(): Promise<void> {
  const hasSocat = spawnSync('sh', ['-c', 'command -v socat']).status === 0;
  if (!hasSocat) throw new Error('socat is not installed (apt-get install socat)');
  const base = join(values.dir, `sockit-files-bench-${process.pid}`);
  await mkdir(base, { recursive: true });
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: join(base, 'config'),
    XDG_DATA_HOME: join(base, 'data'),
    SOCKIT_TOKEN: '',
  };
  const tokenFile = join(base, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const src = join(base, 'src.bin');
  const root = join(base, 'root');
  try {
    await makeSource(src);
    const port = await freePort();
    const server = spawn(
      process.execPath,
      [
        CLI,
        'serve',
        'files',
        '--port',
        String(port),
        '--root',
        root,
        '--token-file',
        tokenFile,
        '--log-level',
        'warn',
      ],
      {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    // `ready` is logged at info; with warn, wait for the port instead.
    for (let i = 0; i < 400; i++) {
      if (spawnSync('sh', ['-c', `ss -ltn | grep -q ':${port} '`]).status === 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const target = `127.0.0.1:${port}`;
    const tf = ['--token-file', tokenFile, '--json'];
    const results = {
      socat: [] as number[],
      put: [] as number[],
      get: [] as number[],
      putTransfer: [] as number[],
      getTransfer: [] as number[],
    };
    /** CPU time (user + system, ms) per transfer, of each side. */
    const cpu = {
      socat: [] as number[],
      putClient: [] as number[],
      putServer: [] as number[],
      getClient: [] as number[],
      getServer: [] as number[],
    };
    /** Runs the CLI with `args`, with the CPU time it and the server used meanwhile. */
    const cliRun = async (
      args: string[],
    ): Promise<{ ms: number; stdout: string; clientCpuMs: number; serverCpuMs: number }> => {
      const client0 = await reapedChildrenCpuMs();
      const server0 = await processCpuMs(server.pid);
      const result = await timed(process.execPath, [CLI, ...args], env);
      return {
        ...result,
        clientCpuMs: (await reapedChildrenCpuMs()) - client0,
        serverCpuMs: (await processCpuMs(server.pid)) - server0,
      };
    };
    /** The CLI's own durationMs: connect, handshake and transfer, without process start-up. */
    const transferMs = (stdout: string): number =>
      (JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { durationMs: number }).durationMs;
    // Round 0 warms the page cache, the server and the disk's free pages; it is not counted.
    for (let run = 0; run <= runs; run++) {
      const counted = run > 0;
      await warmPages(base, size + WARM_EXTRA);
      const copy = await socatCopy(src, join(base, 'socat.out'));
      await rm(join(base, 'socat.out'), { force: true });
      await warmPages(base, size + WARM_EXTRA);
      const put = await cliRun(['put', target, src, '--as', `f${run}`, ...tf]);
      await warmPages(base, size + WARM_EXTRA);
      const get = await cliRun(['get', target, `f${run}`, '-o', join(base, 'dl.bin'), ...tf]);
      await rm(join(base, 'dl.bin'), { force: true });
      await rm(join(root, `f${run}`), { force: true });
      process.stderr.write(
        `${counted ? `run ${run}/${runs}` : 'warm-up'}: socat ${copy.ms.toFixed(0)} ms (CPU ${copy.cpuMs.toFixed(0)} ms), ` +
          `put ${put.ms.toFixed(0)} ms (CPU client ${put.clientCpuMs.toFixed(0)}, server ${put.serverCpuMs.toFixed(0)} ms), ` +
          `get ${get.ms.toFixed(0)} ms (CPU client ${get.clientCpuMs.toFixed(0)}, server ${get.serverCpuMs.toFixed(0)} ms)\n`,
      );
      if (!counted) continue;
      results.socat.push(copy.ms);
      cpu.socat.push(copy.cpuMs);
      results.put.push(put.ms);
      results.putTransfer.push(transferMs(put.stdout));
      cpu.putClient.push(put.clientCpuMs);
      cpu.putServer.push(put.serverCpuMs);
      results.get.push(get.ms);
      results.getTransfer.push(transferMs(get.stdout));
      cpu.getClient.push(get.clientCpuMs);
      cpu.getServer.push(get.serverCpuMs);
    }

    // Resume: the body stops at 50 % (the client dies), then `put --resume`.
    const half = Math.floor(size / 2);
    // A raw client sends the real header and exactly half the body, then stops (FIN).
    const [{ FilesClient, EnvelopeChannel, connect }, { clientHandshake }] = await Promise.all([
      import('../src/index.js'),
      import('../src/internal.js'),
    ]);
    const conn = await connect({ kind: 'inet', host: '127.0.0.1', port });
    const channel = new EnvelopeChannel(conn);
    await clientHandshake(channel, { service: 'files', token: TOKEN });
    await new Promise<void>((resolve) => {
      channel.setHandlers({ header: () => resolve() });
      channel.send({ type: 'put', name: 'resumed', size });
      channel.resume();
    });
    const fh = await open(src, 'r');
    for (let pos = 0; pos < half; pos += MiB) {
      const buf = Buffer.allocUnsafe(Math.min(MiB, half - pos));
      await fh.read(buf, 0, buf.length, pos);
      if (!channel.sendBody(buf)) await channel.drained();
    }
    await fh.close();
    conn.end(); // every byte sent, then FIN: the server keeps exactly half
    await conn.whenClosed;
    let held = 0;
    for (let i = 0; i < 200; i++) {
      const c = await FilesClient.connect(
        { kind: 'inet', host: '127.0.0.1', port },
        { token: TOKEN },
      );
      const st = await c.stat('resumed');
      c.destroy();
      if (st?.partial === half) {
        held = half;
        break;
      }
      held = st?.partial ?? 0;
      await new Promise((r) => setTimeout(r, 20));
    }
    const resumed = await timed(
      process.execPath,
      [CLI, 'put', target, src, '--as', 'resumed', '--resume', ...tf],
      env,
    );
    const event = JSON.parse(resumed.stdout.trim().split('\n').pop() ?? '{}') as {
      sent: number;
      offset: number;
      sha256: string;
    };
    const whole = createHash('sha256');
    const sfh = await open(src, 'r');
    for (let pos = 0; pos < size; pos += MiB) {
      const buf = Buffer.allocUnsafe(Math.min(MiB, size - pos));
      await sfh.read(buf, 0, buf.length, pos);
      whole.update(buf);
    }
    await sfh.close();
    server.kill('SIGTERM');
    await once(server, 'close');

    const line = (label: string, ms: number[]): string =>
      `| ${label} | ${median(ms).toFixed(0)} ms | ${rate(median(ms)).toFixed(0)} MiB/s | ±${(spread(ms) * 100).toFixed(1)}% |`;
    const socat = median(results.socat);
    console.log(
      `\nfiles bench: ${size / MiB} MiB, ${runs} runs, ${values.dir} → ${values.dir}, loopback TCP\n`,
    );
    console.log('| transfer | median | throughput | spread |');
    console.log('|---|---|---|---|');
    console.log(line(`socat -b ${SOCAT_BUFFER} copy (no hash)`, results.socat));
    console.log(line('sockit put (sha256, fsync, verify)', results.put));
    console.log(line('sockit get (sha256, fsync, verify)', results.get));
    console.log(line('sockit put, transfer only (durationMs)', results.putTransfer));
    console.log(line('sockit get, transfer only (durationMs)', results.getTransfer));
    console.log(`\nput / socat throughput: ${(socat / median(results.put)).toFixed(2)}×`);
    console.log(`get / socat throughput: ${(socat / median(results.get)).toFixed(2)}×`);
    console.log(
      `transfer only (no CLI start-up): put ${(socat / median(results.putTransfer)).toFixed(2)}×, ` +
        `get ${(socat / median(results.getTransfer)).toFixed(2)}×`,
    );
    const seconds = (values: number[]): string => `${(median(values) / 1000).toFixed(2)} s`;
    console.log(
      `CPU time (user + system), medians: socat ${seconds(cpu.socat)} (both processes); ` +
        `put: client ${seconds(cpu.putClient)}, server ${seconds(cpu.putServer)}; ` +
        `get: client ${seconds(cpu.getClient)}, server ${seconds(cpu.getServer)}`,
    );
    const startup = await timed(process.execPath, [CLI, '--version']);
    console.log(`CLI start-up (sockit --version): ${startup.ms.toFixed(0)} ms`);
    console.log(
      `resume after a break at 50 %: server held ${held} B, resumed from ${event.offset} B, sent ${event.sent} B ` +
        `= ${((100 * event.sent) / size).toFixed(1)} % of the file in ${resumed.ms.toFixed(0)} ms; ` +
        `end-to-end sha256 ${event.sha256 === whole.digest('hex') ? 'verified' : 'MISMATCH'}`,
    );
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

await main();

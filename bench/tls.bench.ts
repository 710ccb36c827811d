/**
 * What TLS costs: `sockit serve echo` plain and with `--tls` (its own
 * self-signed identity), in the same run, each in its own process, rounds
 * alternating. The load generator is this process, on raw node:net / node:tls
 * sockets speaking u32be frames:
 * - rr: 16 connections, one 64 B request in flight each (req/s);
 * - bulk: one connection, 64 KiB frames, 16 in flight (MB/s each way);
 * - upload: a 1 GiB file through the files service (`sockit put`), if built.
 * Prints medians and TLS ÷ plain (targets: rr ≥ 0.8, bulk ≥ 0.7).
 *
 *   npm run bench:tls [-- --quick]
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, truncate, writeFile, chmod } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { formatCount, formatNumber, formatRatio, median, textTable } from './stats.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 5;
const SECONDS = quick ? 1 : 2;
const RR_CONNS = 16;
const BULK_FRAME = 64 * 1024;
const BULK_WINDOW = 16;
const UPLOAD_BYTES = (quick ? 256 : 1024) * 1024 * 1024;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORK = join(ROOT, '.bench-results', 'tls');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

type Server = ChildProcessByStdio<null, Readable, null>;
type Kind = 'plain' | 'tls';

async function startServe(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ child: Server; port: number }> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', ...args, '--port', '0', '--log-level', 'info'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env,
    },
  );
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const record = JSON.parse(line) as { event?: string; services?: { addresses: string[] }[] };
    if (record.event === 'ready') {
      const address = record.services?.[0]?.addresses.find((a) => a.startsWith('tcp ')) ?? '';
      child.stdout.resume();
      return { child, port: Number(address.slice(address.lastIndexOf(':') + 1)) };
    }
  }
  throw new Error(`serve ${args.join(' ')} exited before ready`);
}

async function open(kind: Kind, port: number): Promise<Socket> {
  const socket =
    kind === 'tls'
      ? tlsConnect({
          host: '127.0.0.1',
          port,
          rejectUnauthorized: false,
          ALPNProtocols: ['sockit/1'],
        })
      : netConnect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await once(socket, kind === 'tls' ? 'secureConnect' : 'connect');
  return socket;
}

function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

/** Counts complete u32be frames in a byte stream. */
function frameCounter(onFrame: (bytes: number) => void): (chunk: Buffer) => void {
  let need = -1;
  let header = Buffer.alloc(0);
  let left = 0;
  return (chunk) => {
    let off = 0;
    while (off < chunk.length) {
      if (need < 0) {
        const take = Math.min(4 - header.length, chunk.length - off);
        header = Buffer.concat([header, chunk.subarray(off, off + take)]);
        off += take;
        if (header.length === 4) {
          need = header.readUInt32BE(0);
          left = need;
          header = Buffer.alloc(0);
          if (left === 0) {
            onFrame(0);
            need = -1;
          }
        }
      } else {
        const take = Math.min(left, chunk.length - off);
        left -= take;
        off += take;
        if (left === 0) {
          onFrame(need);
          need = -1;
        }
      }
    }
  };
}

async function rr(kind: Kind, port: number): Promise<number> {
  const request = frame(Buffer.alloc(64, 0x61));
  const sockets = await Promise.all(Array.from({ length: RR_CONNS }, () => open(kind, port)));
  let replies = 0;
  let counting = false;
  let running = true;
  for (const socket of sockets) {
    socket.on(
      'data',
      frameCounter(() => {
        if (counting) replies++;
        if (running) socket.write(request);
      }),
    );
    socket.write(request);
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // warm-up
  counting = true;
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const rate = (replies * 1000) / (performance.now() - start);
  running = false;
  for (const socket of sockets) socket.destroy();
  return rate;
}

async function bulk(kind: Kind, port: number): Promise<number> {
  const request = frame(Buffer.alloc(BULK_FRAME, 0x61));
  const socket = await open(kind, port);
  let bytes = 0;
  let counting = false;
  let running = true;
  socket.on(
    'data',
    frameCounter((n) => {
      if (counting) bytes += n;
      if (running) socket.write(request);
    }),
  );
  for (let i = 0; i < BULK_WINDOW; i++) socket.write(request);
  await new Promise((resolve) => setTimeout(resolve, 200));
  counting = true;
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const rate = bytes / ((performance.now() - start) / 1000) / 1e6;
  running = false;
  socket.destroy();
  return rate;
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
  const withFiles = process.argv.includes('--upload');
  const file = join(WORK, 'upload.bin');
  if (withFiles) {
    await writeFile(file, '');
    await truncate(file, UPLOAD_BYTES);
  }
  const results: Record<string, number[]> = {};
  const add = (key: string, value: number): void => {
    (results[key] ??= []).push(value);
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order: Kind[] = round % 2 === 0 ? ['plain', 'tls'] : ['tls', 'plain'];
    for (const kind of order) {
      const tls = kind === 'tls' ? ['--tls'] : [];
      const echo = await startServe(['echo', '--no-udp', ...tls], env);
      try {
        add(`rr ${kind}`, await rr(kind, echo.port));
        add(`bulk ${kind}`, await bulk(kind, echo.port));
      } finally {
        echo.child.kill('SIGTERM');
        await once(echo.child, 'exit');
      }
      if (withFiles) {
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
          files.child.kill('SIGTERM');
          await once(files.child, 'exit');
          await rm(root, { recursive: true, force: true });
        }
      }
    }
  }
  if (withFiles) await rm(file, { force: true });
  const row = (label: string, key: string, format: (v: number) => string): string[] => {
    const plain = median(results[`${key} plain`] ?? []);
    const secure = median(results[`${key} tls`] ?? []);
    return [label, format(secure), format(plain), formatRatio(secure / plain)];
  };
  const rows = [
    row(`echo rr, ${RR_CONNS} conns (req/s)`, 'rr', formatCount),
    row('echo 64 KiB frames, 1 conn (MB/s)', 'bulk', formatNumber),
  ];
  if (withFiles)
    rows.push(
      row(`put ${UPLOAD_BYTES / 1048576} MiB, hashed + fsynced (MB/s)`, 'upload', formatNumber),
    );
  console.log(`\nTLS vs plain TCP: medians of ${ROUNDS} rounds × ${SECONDS} s\n`);
  console.log(textTable(['scenario', 'TLS', 'plain', 'TLS ÷ plain'], rows));
}

await main();

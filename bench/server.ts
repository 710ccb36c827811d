/**
 * Runs one bench server on 127.0.0.1 in its own process:
 *
 *   node --import tsx --expose-gc bench/server.ts KIND [port] [--count-gc]   (from the repository root)
 *
 * - sockit-upper: EchoServer from the built package (dist/, its `sockit/echo`
 *                 entry, as `sockit serve echo` loads it), framing 'auto' and
 *                 the default reply 'upper', as `sockit serve echo` runs it
 * - sockit:       the same with reply 'echo' (information: the framing alone)
 * - baseline-upper: bench/baseline/framed-echo-server.ts with `upper: true`
 *                 (hand-written node:net framed server that upper-cases, SWAR in JS)
 * - baseline:     the same without upper-casing (a framed echo)
 * - baseline-loaded: the upper-casing baseline in a process that has also loaded
 *                 the sockit package, unused: a heap like the sockit server's (a control)
 * - trivial:      socket.pipe(socket), raw bytes back; only the load generator's ceiling
 *
 * Started by bench/echo.bench.ts over IPC ({event:'listening',port} when
 * ready; {cmd:'gc'} and {cmd:'stop'}); standalone it prints the port.
 */
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import {
  isServerKind,
  type ServerCommand,
  type ServerEvent,
  type ServerKind,
  type ServerStats,
} from './protocol.js';
import type * as Sockit from '../src/index.js';
import type * as SockitEcho from '../src/services/echo/index.js';

const HOST = '127.0.0.1';

interface Running {
  port: number;
  close(): Promise<void>;
}

/**
 * The package as built by `npm run build` (dist/ under the current directory,
 * the repository root): what users run. Types come from src/.
 */
async function loadSockit(): Promise<typeof Sockit> {
  // SOCKIT_BENCH_DIST: another build of the package (A/B comparisons of two builds).
  const url = pathToFileURL(resolve(process.env.SOCKIT_BENCH_DIST ?? 'dist', 'index.js')).href;
  try {
    return (await import(url)) as typeof Sockit;
  } catch (err) {
    throw new Error(`cannot load ${url}: run \`npm run build\` first (${String(err)})`);
  }
}

/**
 * The echo service's own entry of the same build (`sockit/echo`): what
 * `sockit serve echo` loads (with sockit/core), not the whole library.
 */
async function loadEcho(): Promise<typeof SockitEcho> {
  const dist = process.env.SOCKIT_BENCH_DIST ?? 'dist';
  const url = pathToFileURL(resolve(dist, 'services', 'echo', 'index.js')).href;
  try {
    return (await import(url)) as typeof SockitEcho;
  } catch (err) {
    throw new Error(`cannot load ${url}: run \`npm run build\` first (${String(err)})`);
  }
}

async function listenNet(server: Server, port: number): Promise<Running> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: HOST, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const info = server.address();
  if (info === null || typeof info === 'string') throw new Error('no TCP address');
  return {
    port: info.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}

async function start(kind: ServerKind, port: number): Promise<Running> {
  switch (kind) {
    case 'sockit':
    case 'sockit-upper': {
      const { EchoServer } = await loadEcho();
      const server = new EchoServer({
        framing: 'auto',
        reply: kind === 'sockit' ? 'echo' : 'upper',
      });
      const bound = await server.listen({ tcp: { kind: 'inet', host: HOST, port } });
      if (bound.tcp?.kind !== 'inet') throw new Error('no TCP address');
      return { port: bound.tcp.port, close: () => server.close(0) };
    }
    // Each process loads only what its server needs: what else is on the heap
    // changes V8's GC decisions (see docs/PERFORMANCE.md, 64 KiB frames).
    case 'baseline':
    case 'baseline-upper':
      return listenNet(
        (await import('./baseline/framed-echo-server.js')).createFramedEchoServer({
          upper: kind === 'baseline-upper',
        }),
        port,
      );
    case 'baseline-loaded':
      await loadSockit();
      return listenNet(
        (await import('./baseline/framed-echo-server.js')).createFramedEchoServer({ upper: true }),
        port,
      );
    case 'trivial':
      return listenNet(
        createServer((socket) => {
          socket.setNoDelay(true);
          socket.on('error', () => {
            socket.destroy();
          });
          socket.pipe(socket);
        }),
        port,
      );
  }
}

const gcCounts = { major: 0, minor: 0, ms: 0 };

function watchGc(): void {
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcCounts.major++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gcCounts.minor++;
      gcCounts.ms += entry.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}

function stats(): ServerStats {
  const cpu = process.cpuUsage();
  return {
    cpuMs: (cpu.user + cpu.system) / 1000,
    gcMajor: gcCounts.major,
    gcMinor: gcCounts.minor,
    gcMs: gcCounts.ms,
  };
}

function send(event: ServerEvent): void {
  if (process.send) process.send(event);
}

async function main(): Promise<void> {
  const kind = process.argv[2] ?? '';
  if (!isServerKind(kind)) {
    console.error(
      'usage: server.ts sockit|sockit-upper|baseline|baseline-upper|baseline-loaded|trivial [port] [--count-gc]',
    );
    process.exit(2);
  }
  const args = process.argv.slice(3);
  const running = await start(kind, Number(args.find((a) => /^\d+$/.test(a)) ?? 0));
  // Off by default: the observer's entries change the heap it measures (see docs/PERFORMANCE.md).
  if (args.includes('--count-gc')) watchGc();
  if (!process.send) {
    console.log(`${kind} listening on ${HOST}:${running.port}`);
    return;
  }
  process.on('message', (message: ServerCommand) => {
    if (message.cmd === 'gc') {
      // Twice: the first pass can leave work (finalizers, weak refs) for the second.
      globalThis.gc?.();
      globalThis.gc?.();
      const { heapUsed, external, arrayBuffers } = process.memoryUsage();
      send({ event: 'gc-done', memory: { heapUsed, external, arrayBuffers } });
    } else if (message.cmd === 'stats') {
      send({ event: 'stats', stats: stats() });
    } else {
      void running.close().finally(() => process.exit(0));
      setTimeout(() => process.exit(0), 2_000).unref();
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ event: 'listening', port: running.port });
}

await main();

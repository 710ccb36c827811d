/**
 * One chat fan-out bench server on 127.0.0.1, in its own process:
 *
 *   node .bench-results/js/chat/server.js sockit|baseline    (compiled by bench/chat.bench.ts)
 *
 * - sockit:   ChatServer from the built package (dist/, or SOCKIT_BENCH_DIST),
 *             every guard on; its per-client rate limit is raised so one
 *             sender can load it, but still consulted on every message.
 * - baseline: bench/baseline/broadcast-server.ts (hand-written node:net broadcast).
 *
 *   node .bench-results/js/chat/server.js sockit redis://127.0.0.1:PORT    (one node of a cluster)
 *
 * Prints one JSON line {"port":PORT} when ready; exits on SIGTERM.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Server } from 'node:net';
import type * as Sockit from '../../src/index.js';

const HOST = '127.0.0.1';

async function sockit(
  cluster: string | undefined,
): Promise<{ port: number; close(): Promise<void> }> {
  const url = pathToFileURL(resolve(process.env.SOCKIT_BENCH_DIST ?? 'dist', 'index.js')).href;
  const lib = (await import(url)) as typeof Sockit;
  const server = new lib.ChatServer({
    rateLimit: { ratePerSec: 1e9, burst: 1e9 },
    ...(cluster !== undefined ? { bus: new lib.RedisChatBus({ url: cluster }) } : {}),
  });
  const at = await server.listen({ kind: 'inet', host: HOST, port: 0 });
  if (at.kind !== 'inet') throw new Error('no TCP address');
  return { port: at.port, close: () => server.close(0) };
}

async function baseline(): Promise<{ port: number; close(): Promise<void> }> {
  const { createBroadcastServer } = await import('../baseline/broadcast-server.js');
  const server: Server = createBroadcastServer();
  await new Promise<void>((done) => server.listen({ host: HOST, port: 0 }, done));
  const info = server.address();
  if (info === null || typeof info === 'string') throw new Error('no TCP address');
  return {
    port: info.port,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => {
          done();
        });
      }),
  };
}

const kind = process.argv[2];
if (kind !== 'sockit' && kind !== 'baseline') {
  console.error('usage: server.js sockit|baseline');
  process.exit(2);
}
const running = kind === 'sockit' ? await sockit(process.argv[3]) : await baseline();
process.on('SIGTERM', () => {
  void running.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 1_000).unref();
});
console.log(JSON.stringify({ port: running.port }));

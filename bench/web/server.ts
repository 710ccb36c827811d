/**
 * One web fan-out bench server on 127.0.0.1, in its own process:
 *
 *   node .bench-results/js/web/server.js sockit|baseline    (compiled by bench/web.bench.ts)
 *
 * - sockit:   WebGateway in front of a ChatServer in the same process, from
 *             the built package (dist/, or SOCKIT_BENCH_DIST), as `sockit
 *             serve web` runs them, every guard on; the per-client chat rate
 *             limit is raised so one sender can load it, but still consulted
 *             on every message, and handshakes without Origin are let in
 *             (the load generator is not a browser).
 * - baseline: bench/baseline/ws-broadcast-server.ts (hand-written `ws` broadcast).
 * - relay PORT: bench/baseline/ws-relay-server.ts (hand-written WebSocket to
 *             framed TCP relay in front of 127.0.0.1:PORT), the bridge's floor.
 *
 * Prints one JSON line {"port":PORT} when ready; exits on SIGTERM.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Server } from 'node:http';
import type * as Sockit from '../../src/index.js';

const HOST = '127.0.0.1';

async function sockit(): Promise<{ port: number; close(): Promise<void> }> {
  const url = pathToFileURL(resolve(process.env.SOCKIT_BENCH_DIST ?? 'dist', 'index.js')).href;
  const lib = (await import(url)) as typeof Sockit;
  const chat = new lib.ChatServer({ rateLimit: { ratePerSec: 1e9, burst: 1e9 } });
  const web = new lib.WebGateway({ chat, allowNoOrigin: true });
  const at = await web.listen({ kind: 'inet', host: HOST, port: 0 });
  if (at.kind !== 'inet') throw new Error('no TCP address');
  return {
    port: at.port,
    close: async () => {
      await web.close(0);
      await chat.close(0);
    },
  };
}

async function baseline(): Promise<{ port: number; close(): Promise<void> }> {
  const { createWsBroadcastServer } = await import('../baseline/ws-broadcast-server.js');
  return listening(createWsBroadcastServer());
}

async function listening(server: Server): Promise<{ port: number; close(): Promise<void> }> {
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
        server.closeAllConnections();
      }),
  };
}

async function relay(targetPort: number): Promise<{ port: number; close(): Promise<void> }> {
  const { createWsRelayServer } = await import('../baseline/ws-relay-server.js');
  return listening(createWsRelayServer(targetPort));
}

const kind = process.argv[2];
const targetPort = Number(process.argv[3]);
if (kind !== 'sockit' && kind !== 'baseline' && !(kind === 'relay' && targetPort > 0)) {
  console.error('usage: server.js sockit|baseline|relay TARGET_PORT');
  process.exit(2);
}
const running =
  kind === 'sockit'
    ? await sockit()
    : kind === 'relay'
      ? await relay(targetPort)
      : await baseline();
process.on('SIGTERM', () => {
  void running.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 1_000).unref();
});
console.log(JSON.stringify({ port: running.port }));

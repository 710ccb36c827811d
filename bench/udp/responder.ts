/**
 * One UDP echo responder on 127.0.0.1, in its own process:
 *
 *   node bench/udp/responder.ts sockit|dgram   (compiled to .bench-results/js/ by bench/udp-echo.bench.ts)
 *
 * - sockit: EchoServer from the built package (dist/, its `sockit/echo` entry), UDP only, in its default
 *           reply mode `upper` (as `sockit serve echo` runs it), every guard on;
 *           the per-source rate limit (200/s by default) is raised so one
 *           loopback host can load it, but still consulted on every datagram.
 * - dgram:  a minimal node:dgram responder doing the same work and no more:
 *           upper-cases each datagram in place (the baseline's SWAR,
 *           bench/baseline/framed-echo-server.ts) and sends it back.
 *
 * Prints the port on one line when ready; exits on SIGTERM (normally, so a
 * --cpu-prof profile is written).
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { upperAsciiRange } from '../baseline/framed-echo-server.js';
import type * as SockitEcho from '../../src/services/echo/index.js';

const HOST = '127.0.0.1';

async function sockit(): Promise<number> {
  // The echo service's own entry, as `sockit serve echo` loads it.
  const dist = process.env.SOCKIT_BENCH_DIST ?? 'dist';
  const url = pathToFileURL(resolve(dist, 'services', 'echo', 'index.js')).href;
  const lib = (await import(url)) as typeof SockitEcho;
  const server = new lib.EchoServer({ udp: { rateLimit: { ratePerSec: 1e9, burst: 1e9 } } });
  const at = await server.listen({ udp: { kind: 'inet', host: HOST, port: 0 } });
  return at.udp?.kind === 'inet' ? at.udp.port : 0;
}

async function dgram(): Promise<number> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    upperAsciiRange(msg, 0, msg.length);
    socket.send(msg, rinfo.port, rinfo.address);
  });
  socket.bind(0, HOST);
  await once(socket, 'listening');
  return socket.address().port;
}

const kind = process.argv[2];
if (kind !== 'sockit' && kind !== 'dgram') {
  console.error('usage: responder.ts sockit|dgram');
  process.exit(2);
}
process.on('SIGTERM', () => process.exit(0));
console.log(kind === 'sockit' ? await sockit() : await dgram());

/**
 * One UDP time responder on 127.0.0.1, in its own process:
 *
 *   node --import tsx bench/time/responder.ts sockit|baseline
 *
 * - sockit:   TimeServer from the built package (dist/): SNTP and RFC 868 over
 *             UDP with every guard on (rate limits raised so one loopback
 *             host can load it, but still consulted per datagram).
 * - baseline: a minimal node:dgram responder that does the same work and no
 *             more: an RFC 868 reply from the clock, and an SNTP reply that
 *             copies the transmit timestamp into originate and fills the
 *             receive/transmit timestamps, with no validation and no limits.
 *
 * Prints one JSON line {"sntp":PORT,"rfc868":PORT} when ready; exits on SIGTERM.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type * as Sockit from '../../src/index.js';

const HOST = '127.0.0.1';
const kind = process.argv[2];

async function sockit(): Promise<{ sntp: number; rfc868: number }> {
  const lib = (await import(new URL('../../dist/index.js', import.meta.url).href)) as typeof Sockit;
  const unlimited = { ratePerSec: 1e9, burst: 1e9 };
  const server = new lib.TimeServer({ udp: { rateLimit: unlimited }, sntp: unlimited });
  const at = await server.listen({
    sntp: { kind: 'inet', host: HOST, port: 0 },
    rfc868Udp: { kind: 'inet', host: HOST, port: 0 },
  });
  const port = (a: Sockit.Address | undefined): number => (a?.kind === 'inet' ? a.port : 0);
  return { sntp: port(at.sntp), rfc868: port(at.rfc868Udp) };
}

const SECONDS_1900_TO_1970 = 2_208_988_800;

function ntpNow(out: Buffer, offset: number): void {
  const now = (performance.timeOrigin + performance.now()) / 1000 + SECONDS_1900_TO_1970;
  const seconds = Math.floor(now);
  out.writeUInt32BE(seconds >>> 0, offset);
  out.writeUInt32BE(Math.floor((now - seconds) * 2 ** 32) >>> 0, offset + 4);
}

async function baseline(): Promise<{ sntp: number; rfc868: number }> {
  const sntp = createSocket('udp4');
  sntp.on('message', (msg, rinfo) => {
    if (msg.length < 48) return;
    const reply = Buffer.alloc(48);
    reply[0] = ((msg[0] ?? 0) & 0x38) | 4; // version echoed, mode 4
    reply[1] = 10;
    msg.copy(reply, 24, 40, 48); // originate = transmit
    ntpNow(reply, 32);
    ntpNow(reply, 40);
    sntp.send(reply, rinfo.port, rinfo.address);
  });
  const rfc868 = createSocket('udp4');
  rfc868.on('message', (_msg, rinfo) => {
    const reply = Buffer.allocUnsafe(4);
    reply.writeUInt32BE((Math.floor(Date.now() / 1000) + SECONDS_1900_TO_1970) >>> 0);
    rfc868.send(reply, rinfo.port, rinfo.address);
  });
  sntp.bind(0, HOST);
  rfc868.bind(0, HOST);
  await Promise.all([once(sntp, 'listening'), once(rfc868, 'listening')]);
  return { sntp: sntp.address().port, rfc868: rfc868.address().port };
}

const ports =
  kind === 'sockit' ? await sockit() : kind === 'baseline' ? await baseline() : undefined;
if (!ports) {
  console.error('usage: responder.ts sockit|baseline');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.on('SIGTERM', () => process.exit(0));

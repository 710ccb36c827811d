import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import {
  NetworkError,
  RateLimiter,
  UdpClient,
  UdpServer,
  type Address,
  type UdpServerOptions,
} from '../../src/index.js';
import { SOCKIT_UDP_PORTS } from '../../src/internal.js';
import { LOOPBACK, portOf } from '../helpers/net.js';

async function udpEcho(
  t: TestContext,
  options: UdpServerOptions = {},
  handler = (m: Buffer) => m as Uint8Array | undefined,
) {
  const server = new UdpServer(handler, options);
  t.after(() => server.close());
  const address = await server.listen(LOOPBACK);
  return { server, address };
}

async function socket(t: TestContext, port = 0): Promise<Socket> {
  const s = createSocket('udp4');
  t.after(() => s.close());
  s.bind(port, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

function nextMessage(s: Socket): Promise<Buffer> {
  return new Promise((resolve) => s.once('message', (m: Buffer) => resolve(m)));
}

describe('UDP server guards', () => {
  it('answers each datagram, and drops an oversize one whole', async (t) => {
    const { server, address } = await udpEcho(t, { maxDatagram: 100 });
    const client = await socket(t);
    const reply = nextMessage(client);
    client.send(Buffer.alloc(101, 0x41), portOf(address), '127.0.0.1');
    client.send(Buffer.from('ok'), portOf(address), '127.0.0.1');
    assert.equal((await reply).toString(), 'ok', 'the first reply is to the valid datagram');
    assert.equal(server.stats.oversize, 1);
  });

  it('a source over its rate gets no replies while others are served', async (t) => {
    const { server, address } = await udpEcho(t, { rateLimit: { ratePerSec: 1, burst: 5 } });
    const flooder = await socket(t);
    let floodReplies = 0;
    flooder.on('message', () => floodReplies++);
    for (let i = 0; i < 50; i++) flooder.send(Buffer.from(`f${i}`), portOf(address), '127.0.0.1');
    // The rate limit is per host; all test sockets are 127.0.0.1, so it is checked on the server's counters.
    const marker = nextMessage(flooder);
    await new Promise((r) => setImmediate(r));
    while (server.stats.received < 50) await new Promise((r) => setImmediate(r));
    assert.ok(server.stats.rateLimited >= 44, `rate limited ${server.stats.rateLimited} of 50`);
    assert.ok(server.stats.answered <= 6);
    await marker;
    assert.ok(floodReplies <= 6);
  });

  it('never answers a privileged source port or a sockit service port (no ping-pong loops)', async (t) => {
    const { server, address } = await udpEcho(t);
    let bound: Socket | undefined;
    for (const port of SOCKIT_UDP_PORTS) {
      try {
        bound = await socket(t, port);
        break;
      } catch {
        // in use by a running sockit: try the next one
      }
    }
    assert.ok(bound, 'one of the service ports is free');
    bound.send(Buffer.from('loop?'), portOf(address), '127.0.0.1');
    const other = await socket(t);
    const reply = nextMessage(other);
    other.send(Buffer.from('fine'), portOf(address), '127.0.0.1');
    assert.equal((await reply).toString(), 'fine');
    assert.equal(server.stats.loopGuarded, 1);
  });

  it('never answers a port another UDP server of this process is bound to, whatever its number', async (t) => {
    const { server, address } = await udpEcho(t);
    const other = await udpEcho(t); // a second service moved off its default port
    // Another loopback address may bind the same port number: datagrams from it carry that source port.
    const alias = createSocket('udp4');
    t.after(() => alias.close());
    alias.bind(portOf(other.address), '127.0.0.2');
    await once(alias, 'listening');
    alias.send(Buffer.from('loop?'), portOf(address), '127.0.0.1');
    const client = await socket(t);
    const reply = nextMessage(client);
    client.send(Buffer.from('fine'), portOf(address), '127.0.0.1');
    assert.equal((await reply).toString(), 'fine');
    assert.equal(server.stats.loopGuarded, 1);
  });

  it('a reply larger than the request plus a small slack is never sent (no amplification)', async (t) => {
    const { server, address } = await udpEcho(t, {}, () => Buffer.alloc(1000));
    const client = await socket(t);
    const echoed = await udpEcho(t);
    const reply = nextMessage(client);
    client.send(Buffer.from('tiny'), portOf(address), '127.0.0.1');
    client.send(Buffer.from('marker'), portOf(echoed.address), '127.0.0.1');
    assert.equal((await reply).toString(), 'marker');
    assert.equal(server.stats.replyTooLarge, 1);
  });

  it('binds without reuseAddr: a second socket cannot steal the port', async (t) => {
    const { address } = await udpEcho(t);
    const thief = createSocket({ type: 'udp4', reuseAddr: true });
    t.after(() => thief.close());
    thief.bind(portOf(address), '127.0.0.1');
    const [err] = (await once(thief, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'EADDRINUSE');
  });

  it("the rate limiter's memory is bounded: past maxSources the oldest source is forgotten", () => {
    const limiter = new RateLimiter({ ratePerSec: 1, burst: 1, maxSources: 2 });
    assert.ok(limiter.take('a', 0));
    assert.ok(!limiter.take('a', 1));
    assert.ok(limiter.take('b', 2));
    assert.ok(limiter.take('c', 3));
    assert.equal(limiter.trackedSources, 2);
    assert.ok(limiter.take('a', 4), '"a" was forgotten, so it starts with a full bucket');
    assert.ok(limiter.take('b', 2000), 'tokens refill with time');
  });
});

describe('UDP client', () => {
  it('retransmits until answered', async (t) => {
    let seen = 0;
    const { address } = await udpEcho(t, {}, (m) => (++seen < 3 ? undefined : m)); // loses the first two
    const client = await UdpClient.open(address);
    t.after(() => client.close());
    const { reply, attempts } = await client.request(Buffer.from('ping'), {
      timeoutMs: 3000,
      retries: 4,
    });
    assert.equal(reply.toString(), 'ping');
    assert.equal(attempts, 3);
  });

  it("ignores a forged reply from another port and takes the server's own", async (t) => {
    const rogue = await socket(t);
    const server = await socket(t);
    const serverAddress: Address = { kind: 'inet', host: '127.0.0.1', port: server.address().port };
    server.on('message', (_m, rinfo) => {
      // The forgery arrives first; only then does the real server answer.
      rogue.send(Buffer.from('FORGED'), rinfo.port, rinfo.address, () => {
        server.send(Buffer.from('REAL'), rinfo.port, rinfo.address);
      });
    });
    const client = await UdpClient.open(serverAddress);
    t.after(() => client.close());
    const { reply } = await client.request(Buffer.from('q'), { timeoutMs: 3000 });
    assert.equal(reply.toString(), 'REAL');
  });

  it('no answer at all: a TIMEOUT after all attempts, within the deadline', async (t) => {
    const { address } = await udpEcho(t, {}, () => undefined);
    const client = await UdpClient.open(address);
    t.after(() => client.close());
    await assert.rejects(
      client.request(Buffer.from('x'), { timeoutMs: 300, retries: 2 }),
      (err: unknown) => {
        assert.ok(err instanceof NetworkError);
        assert.equal(err.code, 'TIMEOUT');
        assert.match(err.message, /no reply after 3 attempts in 300 ms/);
        return true;
      },
    );
  });

  it('nothing listening: CONNECTION_REFUSED at once (ICMP port unreachable)', async (t) => {
    const probe = createSocket('udp4');
    probe.bind(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = await UdpClient.open({ kind: 'inet', host: '127.0.0.1', port });
    t.after(() => client.close());
    await assert.rejects(client.request(Buffer.from('x'), { timeoutMs: 5000 }), (err: unknown) => {
      assert.ok(err instanceof NetworkError);
      assert.equal(err.code, 'CONNECTION_REFUSED');
      return true;
    });
  });
});

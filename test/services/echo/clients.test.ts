import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { EchoClient, EchoUdpClient, SockitError, type Address } from '../../../src/index.js';
import { startEcho } from '../../helpers/echo.js';
import { muteServer } from '../../helpers/net.js';

const T = { timeout: 20_000 };

test('EchoClient: pipelined requests get in-order replies', T, async (t) => {
  const { tcp } = await startEcho(t);
  const client = await EchoClient.connect(tcp);
  t.after(() => {
    client.destroy();
  });
  // All 500 are on the wire before the first reply is read; sizes vary so replies straddle TCP reads.
  const messages = Array.from({ length: 500 }, (_, i) =>
    Buffer.from(`req-${i}-`.padEnd(1 + ((i * 37) % 3000), 'x')),
  );
  const replies = await Promise.all(messages.map((m) => client.request(m)));
  replies.forEach((reply, i) => {
    assert.equal(reply.toString(), messages[i]!.toString().toUpperCase(), `reply ${i}`);
  });
  await client.close();
});

test('EchoClient in raw mode: one line per request, replies in order', T, async (t) => {
  const { tcp } = await startEcho(t);
  const client = await EchoClient.connect(tcp, { framing: 'raw' });
  t.after(() => {
    client.destroy();
  });
  const replies = await Promise.all(
    ['first line', 'second', 'third: ümlaut'].map((m) => client.request(Buffer.from(m))),
  );
  assert.deepEqual(
    replies.map((r) => r.toString()),
    ['FIRST LINE', 'SECOND', 'THIRD: üMLAUT'],
  );
  await client.close();
});

test('EchoClient: a reply kept by the caller is not overwritten by later traffic', T, async (t) => {
  const { tcp } = await startEcho(t);
  const client = await EchoClient.connect(tcp);
  t.after(() => {
    client.destroy();
  });
  const first = await client.request(Buffer.from('keep me'));
  await Promise.all(
    Array.from({ length: 200 }, (_, i) => client.request(Buffer.from(`other ${i}`))),
  );
  assert.equal(first.toString(), 'KEEP ME');
});

test('EchoClient: connection refused is a one-line CONNECTION_REFUSED error', T, async () => {
  // A port that was just free: bind, read the port, close.
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise((resolve) => probe.close(resolve));
  const target: Address = { kind: 'inet', host: '127.0.0.1', port: address.port };
  await assert.rejects(EchoClient.connect(target), (err: unknown) => {
    assert.ok(err instanceof SockitError);
    assert.equal(err.code, 'CONNECTION_REFUSED');
    assert.equal(err.message, `connect to 127.0.0.1:${address.port}: connection refused`);
    return true;
  });
});

test(
  'EchoClient: a pending request fails with CONNECTION_CLOSED when the server goes away',
  T,
  async (t) => {
    // A server that accepts, reads, and closes without replying.
    const silent = createServer((socket) => {
      socket.once('data', () => socket.end());
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    t.after(() => new Promise((resolve) => silent.close(resolve)));
    const addr = silent.address();
    assert.ok(addr !== null && typeof addr === 'object');
    const client = await EchoClient.connect({ kind: 'inet', host: '127.0.0.1', port: addr.port });
    t.after(() => {
      client.destroy();
    });
    await assert.rejects(client.request(Buffer.from('anyone?')), { code: 'CONNECTION_CLOSED' });
    // Later calls fail fast with the same error instead of hanging.
    await assert.rejects(client.request(Buffer.from('again')), { code: 'CONNECTION_CLOSED' });
  },
);

test('EchoClient: no reply within timeoutMs is a TIMEOUT error', T, async (t) => {
  const port = await muteServer(t); // reads and never answers
  const client = await EchoClient.connect(
    { kind: 'inet', host: '127.0.0.1', port },
    { timeoutMs: 300 },
  );
  t.after(() => {
    client.destroy();
  });
  const started = performance.now();
  await assert.rejects(client.request(Buffer.from('hello?')), { code: 'TIMEOUT' });
  assert.ok(performance.now() - started >= 250, 'did not give up early');
});

test('EchoUdpClient: request/reply with round-trip time, several in sequence', T, async (t) => {
  const { udp } = await startEcho(t);
  const client = await EchoUdpClient.open(udp!, { timeoutMs: 5_000 });
  t.after(() => {
    client.close();
  });
  for (const m of ['one', 'two', 'Three 3', '']) {
    const { reply, rttMs } = await client.request(Buffer.from(m));
    assert.equal(reply.toString(), m.toUpperCase());
    assert.ok(rttMs >= 0 && rttMs < 5_000);
  }
  // Concurrent calls are queued and each gets its own reply.
  const replies = await Promise.all(['a', 'b', 'c'].map((m) => client.request(Buffer.from(m))));
  assert.deepEqual(
    replies.map((r) => r.reply.toString()),
    ['A', 'B', 'C'],
  );
});

test('EchoUdpClient: a large datagram (60 000 bytes) comes back whole', T, async (t) => {
  const { udp } = await startEcho(t);
  const client = await EchoUdpClient.open(udp!, { timeoutMs: 5_000 });
  t.after(() => {
    client.close();
  });
  const { reply } = await client.request(Buffer.alloc(60_000, 'u'));
  assert.equal(reply.length, 60_000);
  assert.ok(reply.equals(Buffer.alloc(60_000, 'U')));
});

test(
  'EchoUdpClient: a datagram above maxDatagram is dropped whole, never answered',
  T,
  async (t) => {
    const { server, udp } = await startEcho(t, { udp: { maxDatagram: 100 } });
    const client = await EchoUdpClient.open(udp!, { timeoutMs: 400 });
    t.after(() => {
      client.close();
    });
    await assert.rejects(client.request(Buffer.alloc(101, 'a')), { code: 'TIMEOUT' });
    assert.ok(server.udpStats.oversize >= 1);
    assert.equal(server.udpStats.answered, 0);
    const { reply } = await client.request(Buffer.alloc(100, 'a'));
    assert.equal(reply.toString(), 'A'.repeat(100));
  },
);

test(
  'EchoUdpClient: nobody listening is CONNECTION_REFUSED or TIMEOUT, never a hang',
  T,
  async () => {
    const probe = createSocket('udp4');
    probe.bind(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = probe.address().port;
    await new Promise<void>((resolve) =>
      probe.close(() => {
        resolve();
      }),
    );
    const client = await EchoUdpClient.open(
      { kind: 'inet', host: '127.0.0.1', port },
      { timeoutMs: 500 },
    );
    try {
      await assert.rejects(client.request(Buffer.from('x')), (err: unknown) => {
        assert.ok(err instanceof SockitError);
        assert.ok(['CONNECTION_REFUSED', 'TIMEOUT'].includes(err.code), err.code);
        return true;
      });
    } finally {
      client.close();
    }
  },
);

test('EchoUdpClient refuses a Unix-socket address (BAD_ADDRESS)', T, async () => {
  await assert.rejects(EchoUdpClient.open({ kind: 'unix', path: '/tmp/nope.sock' }), {
    code: 'BAD_ADDRESS',
  });
});

test(
  '1,000 concurrent framed clients, 10 round trips each, no error',
  { timeout: 30_000 },
  async (t) => {
    const { server, tcp } = await startEcho(t);
    const N = 1000;
    const ROUNDS = 10;
    const clients: EchoClient[] = [];
    t.after(() => {
      for (const c of clients) c.destroy();
    });
    // Connect in waves so the 511-deep listen backlog never overflows (an overflow costs a 1 s SYN retry).
    for (let i = 0; i < N; i += 200) {
      const wave = await Promise.all(
        Array.from({ length: Math.min(200, N - i) }, () => EchoClient.connect(tcp)),
      );
      clients.push(...wave);
    }
    assert.equal(clients.length, N);
    const started = performance.now();
    await Promise.all(
      clients.map(async (client, i) => {
        for (let round = 0; round < ROUNDS; round++) {
          const message = `client ${i} round ${round}`;
          const reply = await client.request(Buffer.from(message));
          assert.equal(reply.toString(), message.toUpperCase());
        }
      }),
    );
    const elapsed = performance.now() - started;
    // All 1,000 were open at the same time.
    assert.equal(server.connections, N);
    await Promise.all(clients.map((c) => c.close()));
    t.diagnostic(`${N * ROUNDS} round trips over ${N} connections in ${elapsed.toFixed(0)} ms`);
  },
);

test('EchoUdpClient ignores a late reply to an earlier request', T, async (t) => {
  // A server that answers each request with the previous request's reply first.
  const server = createSocket('udp4');
  t.after(() => server.close());
  let previous: Buffer | undefined;
  server.on('message', (msg, from) => {
    if (previous) server.send(previous, from.port, from.address);
    const reply = Buffer.from(msg.toString().toUpperCase());
    server.send(reply, from.port, from.address);
    previous = reply;
  });
  server.bind(0, '127.0.0.1');
  await once(server, 'listening');
  const client = await EchoUdpClient.open(
    { kind: 'inet', host: '127.0.0.1', port: server.address().port },
    { timeoutMs: 5_000 },
  );
  t.after(() => client.close());
  assert.equal((await client.request(Buffer.from('one'))).reply.toString(), 'ONE');
  assert.equal((await client.request(Buffer.from('two'))).reply.toString(), 'TWO');
  assert.equal((await client.request(Buffer.from('three'))).reply.toString(), 'THREE');
});

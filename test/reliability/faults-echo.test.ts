// Echo (TCP framed and UDP) through the chaos proxies, with a direct canary
// client served throughout. Transport-level limits (idle, frame deadline,
// SLOW_CONSUMER, BUSY, resets) without faults are in test/transport/tcp-server.test.ts
// and test/services/echo/limits.test.ts; this file adds the network faults.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { EchoClient, UdpClient, type Address } from '../../src/index.js';
import { upperAsciiInPlace } from '../../src/services/echo/internal.js';
import { Canary, figure, outcomeOf, timed, within } from '../helpers/chaos/canary.js';
import { ChaosTcpProxy, type TcpChaosOptions } from '../helpers/chaos/tcp-proxy.js';
import { ChaosUdpProxy } from '../helpers/chaos/udp-proxy.js';
import { captureLogger, startEcho } from '../helpers/echo.js';
import { seededRandom } from '../helpers/lossy-udp.js';

const T = { timeout: 30_000 };
const SEED = Number(process.env.CHAOS_SEED ?? 868);

async function echoCanary(t: TestContext, tcp: Address): Promise<Canary> {
  const client = await EchoClient.connect(tcp, { timeoutMs: 1_000 });
  t.after(() => {
    client.destroy();
  });
  let n = 0;
  return Canary.start(t, 'echo', async () => {
    const text = `canary ${n++}`;
    const reply = await client.request(Buffer.from(text));
    assert.equal(reply.toString(), text.toUpperCase());
  });
}

function upper(b: Buffer): Buffer {
  return Buffer.from(upperAsciiInPlace(Buffer.from(b)));
}

/** Messages of seeded random sizes (1..maxBytes), mixed case so the reply differs. */
function messages(count: number, maxBytes: number, seed: number): Buffer[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const size = 1 + Math.floor(random() * maxBytes);
    const b = Buffer.alloc(size);
    for (let j = 0; j < size; j++) b[j] = 0x41 + ((i + j) % 58); // A..z and a few symbols
    return b;
  });
}

/**
 * Sends each message as a UDP echo request (a reply must be the upper-cased
 * message) and counts the outcomes; only `ok` and `TIMEOUT` may occur.
 */
async function udpEchoOutcomes(
  client: UdpClient,
  sent: readonly Buffer[],
  retry: { timeoutMs: number; retries: number },
): Promise<Record<string, number>> {
  const outcomes: Record<string, number> = {};
  for (const m of sent) {
    const want = upper(m);
    const result = await within(
      2_000,
      'udp echo',
      outcomeOf(client.request(m, { ...retry, match: (r) => r.equals(want) })),
    );
    outcomes[result] = (outcomes[result] ?? 0) + 1;
  }
  assert.deepEqual(
    Object.keys(outcomes).filter((k) => k !== 'ok' && k !== 'TIMEOUT'),
    [],
  );
  return outcomes;
}

const transparent: [string, Omit<TcpChaosOptions, 'seed'>][] = [
  [
    'latency 20 ms + jitter 30 ms both ways',
    { up: { latencyMs: 20, jitterMs: 30 }, down: { latencyMs: 20, jitterMs: 30 } },
  ],
  [
    'bandwidth 256 KiB/s both ways',
    { up: { bandwidth: 256 * 1024 }, down: { bandwidth: 256 * 1024 } },
  ],
  [
    'sliced into 1-7 byte segments up, 1-64 down',
    { up: { slice: { min: 1, max: 7 } }, down: { slice: { min: 1, max: 64 } } },
  ],
  [
    'everything at once',
    {
      up: { latencyMs: 5, jitterMs: 10, bandwidth: 512 * 1024, slice: { min: 1, max: 300 } },
      down: { latencyMs: 5, jitterMs: 10, bandwidth: 512 * 1024, slice: { min: 1, max: 300 } },
    },
  ],
];

describe('echo under TCP faults', () => {
  for (const [name, faults] of transparent) {
    it(`${name}: every reply byte-identical, in order, canary unaffected`, T, async (t) => {
      const { tcp, server } = await startEcho(t, { tcp: { messageTimeoutMs: 5_000 } });
      const canary = await echoCanary(t, tcp);
      const proxy = await ChaosTcpProxy.start(t, tcp, { seed: SEED, ...faults });
      const client = await EchoClient.connect(proxy.address, { timeoutMs: 10_000 });
      t.after(() => {
        client.destroy();
      });
      const sent = name.startsWith('sliced')
        ? messages(60, 2_000, SEED)
        : messages(120, 6_000, SEED);
      const { value: replies, ms } = await timed(
        within(
          20_000,
          'pipelined echo through the proxy',
          Promise.all(sent.map((m) => client.request(m))),
        ),
      );
      replies.forEach((r, i) => {
        assert.ok(r.equals(upper(sent[i] as Buffer)), `reply ${i} differs`);
      });
      await client.close();
      const bytes = sent.reduce((n, m) => n + m.length, 0);
      figure(`echo tcp ${name}`, { messages: sent.length, bytes, ms, lost: 0 });
      await canary.assertHealthy();
      assert.equal(server.connections, 1, 'only the canary is left');
    });
  }

  it(
    'stall then close (timeout toxic): the client gets a typed error within its deadline; the server frees the connection',
    T,
    async (t) => {
      const { logger, waitFor } = captureLogger();
      const { tcp, server } = await startEcho(t, { logger, tcp: { messageTimeoutMs: 400 } });
      const canary = await echoCanary(t, tcp);
      const proxy = await ChaosTcpProxy.start(t, tcp, {
        seed: SEED,
        up: { stallAfterBytes: 100, stallCloseMs: 0 },
      });
      const client = await EchoClient.connect(proxy.address, { timeoutMs: 1_000 });
      t.after(() => {
        client.destroy();
      });
      const { value: code, ms } = await timed(
        within(3_000, 'stalled request', outcomeOf(client.request(Buffer.alloc(1_000, 'a')))),
      );
      assert.equal(code, 'TIMEOUT');
      assert.ok(ms < 1_500, `client gave up after ${ms} ms`);
      // The server saw a frame started and never finished: cut by the frame deadline.
      const closeLog = await within(
        3_000,
        'server close',
        waitFor((r) => r.event === 'close' && r.code === 'FRAME_TIMEOUT'),
      );
      figure('echo tcp stall', { clientTimeoutMs: ms, serverCutMs: Number(closeLog.durationMs) });
      await canary.assertHealthy();
      assert.equal(server.connections, 1);
    },
  );

  it(
    'stall then close after 300 ms: the client sees the close as a typed error, not a hang',
    T,
    async (t) => {
      const { tcp } = await startEcho(t);
      const canary = await echoCanary(t, tcp);
      const proxy = await ChaosTcpProxy.start(t, tcp, {
        seed: SEED,
        down: { stallAfterBytes: 10, stallCloseMs: 300 },
      });
      const client = await EchoClient.connect(proxy.address, { timeoutMs: 5_000 });
      t.after(() => {
        client.destroy();
      });
      const { value: code, ms } = await timed(
        within(3_000, 'stalled reply', outcomeOf(client.request(Buffer.alloc(100, 'b')))),
      );
      assert.ok(['CONNECTION_CLOSED', 'INCOMPLETE', 'CONNECTION_RESET'].includes(code), code);
      assert.ok(ms < 2_000, `${ms} ms`);
      figure('echo tcp stall-then-close', { code, ms });
      await canary.assertHealthy();
    },
  );

  it(
    'reset mid-reply: CONNECTION_RESET at the client, the server survives and forgets the connection',
    T,
    async (t) => {
      const { logger, waitFor } = captureLogger();
      const { tcp, server } = await startEcho(t, { logger });
      const canary = await echoCanary(t, tcp);
      const proxy = await ChaosTcpProxy.start(t, tcp, {
        seed: SEED,
        down: { resetAfterBytes: 5_000 },
      });
      const client = await EchoClient.connect(proxy.address, { timeoutMs: 5_000 });
      t.after(() => {
        client.destroy();
      });
      const { value: code, ms } = await timed(
        within(3_000, 'reset request', outcomeOf(client.request(Buffer.alloc(50_000, 'c')))),
      );
      assert.equal(code, 'CONNECTION_RESET');
      await within(
        3_000,
        'server close',
        waitFor((r) => r.event === 'close' && r.code === 'CONNECTION_RESET'),
      );
      figure('echo tcp reset', { code, ms });
      await canary.assertHealthy();
      assert.equal(server.connections, 1);
    },
  );

  it(
    'close after N bytes mid-frame (limit_data): INCOMPLETE at the server, a typed error at the client',
    T,
    async (t) => {
      const { logger, waitFor } = captureLogger();
      const { tcp, server } = await startEcho(t, { logger });
      const canary = await echoCanary(t, tcp);
      const proxy = await ChaosTcpProxy.start(t, tcp, {
        seed: SEED,
        up: { closeAfterBytes: 3_000 },
      });
      const client = await EchoClient.connect(proxy.address, { timeoutMs: 5_000 });
      t.after(() => {
        client.destroy();
      });
      const { value: code, ms } = await timed(
        within(3_000, 'cut request', outcomeOf(client.request(Buffer.alloc(10_000, 'd')))),
      );
      assert.ok(['CONNECTION_CLOSED', 'INCOMPLETE'].includes(code), code);
      await within(
        3_000,
        'server INCOMPLETE',
        waitFor((r) => r.event === 'close' && r.code === 'INCOMPLETE'),
      );
      figure('echo tcp limit_data', { code, ms });
      await canary.assertHealthy();
      assert.equal(server.connections, 1);
    },
  );
});

describe('echo under UDP faults', () => {
  it(
    'drop 20 %, duplicate 10 %, reorder 10 %: every answer is the right one or a TIMEOUT (requests matched by content)',
    T,
    async (t) => {
      const { tcp, udp, server } = await startEcho(t, { udp: { rateLimit: false } });
      assert.ok(udp);
      const canary = await echoCanary(t, tcp);
      const proxy = await ChaosUdpProxy.start(t, udp, {
        seed: SEED,
        up: { drop: 0.2, duplicate: 0.1, reorder: 0.1 },
        down: { drop: 0.2, duplicate: 0.1, reorder: 0.1 },
      });
      const client = await UdpClient.open(proxy.address);
      t.after(() => {
        client.close();
      });
      const sent = messages(200, 1_000, SEED + 1);
      const started = performance.now();
      const outcomes = await udpEchoOutcomes(client, sent, { timeoutMs: 400, retries: 4 });
      assert.ok((outcomes.ok ?? 0) >= 190, JSON.stringify(outcomes));
      figure('echo udp drop/dup/reorder', {
        requests: sent.length,
        ok: outcomes.ok ?? 0,
        timeouts: outcomes.TIMEOUT ?? 0,
        ignoredStale: client.ignored,
        ms: Math.round(performance.now() - started),
        ...proxy.stats,
      });
      await canary.assertHealthy();
      assert.ok(server.udpStats.received > 0);
    },
  );

  it(
    'corrupt and truncate 20 % each: the server never crashes, the client never accepts a wrong reply',
    T,
    async (t) => {
      const { tcp, udp, server } = await startEcho(t, { udp: { rateLimit: false } });
      assert.ok(udp);
      const canary = await echoCanary(t, tcp);
      const proxy = await ChaosUdpProxy.start(t, udp, {
        seed: SEED,
        up: { corrupt: 0.2, truncate: 0.2 },
        down: { corrupt: 0.2, truncate: 0.2 },
      });
      const client = await UdpClient.open(proxy.address);
      t.after(() => {
        client.close();
      });
      const sent = messages(150, 500, SEED + 2);
      const outcomes = await udpEchoOutcomes(client, sent, { timeoutMs: 300, retries: 5 });
      assert.ok((outcomes.ok ?? 0) >= 140, JSON.stringify(outcomes));
      figure('echo udp corrupt/truncate', {
        requests: sent.length,
        ok: outcomes.ok ?? 0,
        timeouts: outcomes.TIMEOUT ?? 0,
        wrongRepliesRejected: client.ignored,
        ...proxy.stats,
      });
      await canary.assertHealthy();
      assert.ok(server.udpStats.answered > 0);
    },
  );
});

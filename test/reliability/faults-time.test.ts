// The time service through the chaos proxies, with a direct canary client
// served throughout: RFC 868 over TCP behind the TCP proxy (latency,
// slicing, reset, close after N bytes, stall), SNTP, unix32 and strftime
// behind the UDP proxy (drop, duplicate, reorder; then corrupt and truncate).
// The server's clock runs SHIFT_MS ahead of ours, so a right answer is one
// that carries the server's time, not ours nor garbage. Unit-level checks of
// each format are in test/services/time/server.test.ts.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import {
  TimeServer,
  queryTime,
  type Address,
  type TimeListen,
  type TimeQueryOptions,
} from '../../src/index.js';
import { Canary, figure, outcomeOf, timed, within } from '../helpers/chaos/canary.js';
import { HoldFinRelay } from '../helpers/chaos/hold-fin.js';
import { ChaosTcpProxy, type TcpChaosOptions } from '../helpers/chaos/tcp-proxy.js';
import { ChaosUdpProxy, type DatagramFaults } from '../helpers/chaos/udp-proxy.js';
import { LOOPBACK } from '../helpers/net.js';

const T = { timeout: 30_000 };
const SEED = Number(process.env.CHAOS_SEED ?? 868);
/** The server's clock is 3 days and 7 s ahead: an answer from anywhere else is obviously wrong. */
const SHIFT_MS = 3 * 86_400_000 + 7_000;
/** One-second formats: ±500 ms of truncation, plus the round trip and scheduling. */
const SECOND_TOLERANCE_MS = 1_500;
/** SNTP: a retransmission answered late skews the offset by up to half the wait. */
const SNTP_TOLERANCE_MS = 1_000;

async function startTime(
  t: TestContext,
): Promise<{ server: TimeServer; at: Required<TimeListen> }> {
  const server = new TimeServer({
    clock: () => Date.now() + SHIFT_MS,
    // Every client here is 127.0.0.1 (the proxy): no Kiss-o'-Death, no rate limit.
    sntp: { ratePerSec: 100_000, burst: 100_000 },
    udp: { rateLimit: false },
  });
  t.after(() => server.close(0));
  const at = await server.listen({
    rfc868Tcp: LOOPBACK,
    unix32: LOOPBACK,
    strftime: LOOPBACK,
    sntp: LOOPBACK,
  });
  return { server, at: at as Required<TimeListen> };
}

/** Throws unless `result` carries the server's (shifted) clock. */
function assertServerTime(offsetMs: number | undefined, tolerance: number, what: string): void {
  assert.ok(offsetMs !== undefined, `${what}: no offset`);
  assert.ok(
    Math.abs(offsetMs - SHIFT_MS) < tolerance,
    `${what}: offset ${offsetMs} ms, want ${SHIFT_MS} ± ${tolerance}`,
  );
}

/**
 * The chaos proxy in front of RFC 868 TCP, behind a HoldFinRelay: the RFC 868
 * client sends its FIN first, which ChaosTcpProxy would let cut the reply it
 * still holds (see hold-fin.ts). Clients connect to `address`.
 */
async function rfc868Proxy(
  t: TestContext,
  target: Address,
  options: TcpChaosOptions,
): Promise<{ proxy: ChaosTcpProxy; address: Address }> {
  const proxy = await ChaosTcpProxy.start(t, target, options);
  const relay = await HoldFinRelay.start(t, proxy.address);
  return { proxy, address: relay.address };
}

/** RFC 868 over TCP, straight to the server, every 50 ms; each answer must be the server's time. */
async function timeCanary(t: TestContext, at: Required<TimeListen>): Promise<Canary> {
  return Canary.start(t, 'time rfc868', async () => {
    const r = await queryTime(at.rfc868Tcp, { mode: 'rfc868', timeoutMs: 1_000 });
    assertServerTime(r.offsetMs, SECOND_TOLERANCE_MS, 'canary');
  });
}

/** Queries `count` times one after another; every outcome is `ok` (checked by `check`) or a SockitError code. */
async function queryMany(
  address: Address,
  options: TimeQueryOptions,
  count: number,
  check: (offsetMs: number | undefined, text: string | undefined) => boolean,
): Promise<{ outcomes: Record<string, number>; wrong: number; maxMs: number }> {
  const outcomes: Record<string, number> = {};
  let wrong = 0;
  let maxMs = 0;
  for (let i = 0; i < count; i++) {
    const verdict = { good: true };
    const { value: result, ms } = await timed(
      within(
        (options.timeoutMs ?? 10_000) + 1_000,
        `${options.mode ?? 'sntp'} query`,
        outcomeOf(
          queryTime(address, options).then((r) => {
            verdict.good = check(r.offsetMs, r.text);
          }),
        ),
      ),
    );
    maxMs = Math.max(maxMs, ms);
    if (result === 'ok' && !verdict.good) wrong++;
    outcomes[result] = (outcomes[result] ?? 0) + 1;
  }
  return { outcomes, wrong, maxMs };
}

const nearServer =
  (tolerance: number) =>
  (offsetMs: number | undefined): boolean =>
    offsetMs !== undefined && Math.abs(offsetMs - SHIFT_MS) < tolerance;

/** strftime with `%s`: the server's Unix seconds as text. */
const strftimeNearServer = (_: number | undefined, text: string | undefined): boolean =>
  text !== undefined &&
  /^\d+$/.test(text) &&
  Math.abs(Number(text) * 1000 + 500 - (Date.now() + SHIFT_MS)) < SECOND_TOLERANCE_MS + 1_000;

const transparent: [string, Omit<TcpChaosOptions, 'seed'>][] = [
  [
    'latency 30 ms + jitter 20 ms both ways',
    { up: { latencyMs: 30, jitterMs: 20 }, down: { latencyMs: 30, jitterMs: 20 } },
  ],
  [
    'the 4 bytes sliced into 1-byte segments',
    { down: { slice: { min: 1, max: 1 }, latencyMs: 5 } },
  ],
  [
    'bandwidth 40 bytes/s (the 4 bytes take 100 ms)',
    { down: { bandwidth: 40, slice: { min: 1, max: 2 } } },
  ],
];

describe('time (RFC 868 over TCP) under TCP faults', () => {
  for (const [name, faults] of transparent) {
    it(`${name}: every answer is the server's time, canary unaffected`, T, async (t) => {
      const { at, server } = await startTime(t);
      const canary = await timeCanary(t, at);
      const { proxy, address } = await rfc868Proxy(t, at.rfc868Tcp, { seed: SEED, ...faults });
      const { value: run, ms } = await timed(
        queryMany(
          address,
          { mode: 'rfc868', timeoutMs: 2_000 },
          20,
          nearServer(SECOND_TOLERANCE_MS),
        ),
      );
      assert.deepEqual(run.outcomes, { ok: 20 });
      assert.equal(run.wrong, 0);
      figure(`time rfc868 tcp ${name}`, { queries: 20, ok: 20, wrong: 0, ms, maxMs: run.maxMs });
      await canary.assertHealthy();
      assert.equal(proxy.stats.connections, 20);
      assert.ok(server.addresses.length === 4);
    });
  }

  it(
    'reset after 0-3 of the 4 bytes: a typed error within the deadline, never a wrong time',
    T,
    async (t) => {
      const { at } = await startTime(t);
      const canary = await timeCanary(t, at);
      const codes: Record<string, number> = {};
      let maxMs = 0;
      for (let n = 0; n < 4; n++) {
        const { proxy, address } = await rfc868Proxy(t, at.rfc868Tcp, {
          seed: SEED + n,
          down: { resetAfterBytes: n, latencyMs: 5 },
        });
        const { value: code, ms } = await timed(
          within(
            3_000,
            `reset after ${n} bytes`,
            outcomeOf(queryTime(address, { mode: 'rfc868', timeoutMs: 2_000 })),
          ),
        );
        // With fewer than 4 bytes there is no time to give: never 'ok'.
        assert.ok(['CONNECTION_RESET', 'BAD_REPLY', 'CONNECTION_CLOSED'].includes(code), code);
        assert.ok(ms < 1_000, `reset after ${n} bytes: ${code} after ${ms} ms`);
        assert.equal(proxy.stats.resets, 1);
        codes[code] = (codes[code] ?? 0) + 1;
        maxMs = Math.max(maxMs, ms);
      }
      figure('time rfc868 tcp reset after 0-3 bytes', { cases: 4, ...codes, maxMs });
      await canary.assertHealthy();
    },
  );

  it(
    'close after 0-3 of the 4 bytes (limit_data): BAD_REPLY or CONNECTION_CLOSED, at once',
    T,
    async (t) => {
      const { at } = await startTime(t);
      const canary = await timeCanary(t, at);
      const codes: Record<string, number> = {};
      let maxMs = 0;
      for (let n = 0; n < 4; n++) {
        const { proxy, address } = await rfc868Proxy(t, at.rfc868Tcp, {
          seed: SEED + n,
          down: { closeAfterBytes: n, slice: { min: 1, max: 1 } },
        });
        const { value: code, ms } = await timed(
          within(
            3_000,
            `close after ${n} bytes`,
            outcomeOf(queryTime(address, { mode: 'rfc868', timeoutMs: 2_000 })),
          ),
        );
        assert.ok(['BAD_REPLY', 'CONNECTION_CLOSED'].includes(code), `after ${n} bytes: ${code}`);
        assert.ok(ms < 1_000, `close after ${n} bytes: ${code} after ${ms} ms`);
        assert.equal(proxy.stats.limitCloses, 1);
        codes[code] = (codes[code] ?? 0) + 1;
        maxMs = Math.max(maxMs, ms);
      }
      figure('time rfc868 tcp close after 0-3 bytes', { cases: 4, ...codes, maxMs });
      await canary.assertHealthy();
    },
  );

  it('stall after 2 bytes: TIMEOUT within the client deadline, not a hang', T, async (t) => {
    const { at } = await startTime(t);
    const canary = await timeCanary(t, at);
    const { proxy, address } = await rfc868Proxy(t, at.rfc868Tcp, {
      seed: SEED,
      down: { stallAfterBytes: 2, stallCloseMs: 0 },
    });
    const { value: code, ms } = await timed(
      within(
        2_000,
        'stalled time',
        outcomeOf(queryTime(address, { mode: 'rfc868', timeoutMs: 500 })),
      ),
    );
    assert.equal(proxy.stats.stalls, 1);
    assert.equal(code, 'TIMEOUT');
    assert.ok(ms >= 450 && ms < 1_000, `${ms} ms`);
    figure('time rfc868 tcp stall', { code, ms });
    await canary.assertHealthy();
  });
});

const lossy: DatagramFaults = { drop: 0.2, duplicate: 0.2, reorder: 0.2, reorderWindow: 2 };
const damaging: DatagramFaults = { corrupt: 0.2, truncate: 0.2, duplicate: 0.1 };

describe('time over UDP under datagram faults', () => {
  const formats: [string, TimeQueryOptions, (o: number | undefined, s?: string) => boolean][] = [
    ['sntp', { mode: 'sntp' }, nearServer(SNTP_TOLERANCE_MS)],
    ['unix32', { mode: 'unix32' }, nearServer(SECOND_TOLERANCE_MS)],
    ['strftime', { mode: 'strftime', format: '%s' }, strftimeNearServer],
  ];
  const portOf = (at: Required<TimeListen>, mode: string): Address =>
    mode === 'sntp' ? at.sntp : mode === 'unix32' ? at.unix32 : at.strftime;

  it(
    'drop 20 %, duplicate 20 %, reorder 20 % both ways: every answer is the server time or a TIMEOUT',
    T,
    async (t) => {
      const { at, server } = await startTime(t);
      const canary = await timeCanary(t, at);
      for (const [mode, options, check] of formats) {
        const proxy = await ChaosUdpProxy.start(t, portOf(at, mode), {
          seed: SEED,
          up: lossy,
          down: lossy,
        });
        const { value: run, ms } = await timed(
          queryMany(proxy.address, { ...options, timeoutMs: 600 }, 60, check),
        );
        assert.deepEqual(
          Object.keys(run.outcomes).filter((k) => k !== 'ok' && k !== 'TIMEOUT'),
          [],
          `${mode}: ${JSON.stringify(run.outcomes)}`,
        );
        // Loss, duplication and reordering never make a wrong time.
        assert.equal(run.wrong, 0, `${mode}: ${run.wrong} wrong answers`);
        assert.ok((run.outcomes.ok ?? 0) >= 54, `${mode}: ${JSON.stringify(run.outcomes)}`);
        assert.ok(run.maxMs < 1_600, `${mode}: slowest query ${run.maxMs} ms`);
        figure(`time ${mode} udp drop/dup/reorder`, {
          queries: 60,
          ok: run.outcomes.ok ?? 0,
          timeouts: run.outcomes.TIMEOUT ?? 0,
          wrong: 0,
          ms,
          maxMs: run.maxMs,
          ...proxy.stats,
        });
      }
      await canary.assertHealthy();
      assert.ok(server.sntpStats.answered > 0);
    },
  );

  it(
    'corrupt 20 % and truncate 20 % both ways: typed errors only, the server never crashes',
    T,
    async (t) => {
      const { at, server } = await startTime(t);
      const canary = await timeCanary(t, at);
      for (const [mode, options, check] of formats) {
        const proxy = await ChaosUdpProxy.start(t, portOf(at, mode), {
          seed: SEED + 1,
          up: damaging,
          down: damaging,
        });
        const { value: run, ms } = await timed(
          queryMany(proxy.address, { ...options, timeoutMs: 600 }, 60, check),
        );
        // outcomeOf rethrows anything untyped; every code is a known one.
        const codes = Object.keys(run.outcomes);
        assert.deepEqual(
          codes.filter((k) => !['ok', 'TIMEOUT', 'BAD_REPLY', 'KISS_OF_DEATH'].includes(k)),
          [],
          `${mode}: ${JSON.stringify(run.outcomes)}`,
        );
        assert.ok((run.outcomes.ok ?? 0) >= 30, `${mode}: ${JSON.stringify(run.outcomes)}`);
        assert.ok(run.maxMs < 1_600, `${mode}: slowest query ${run.maxMs} ms`);
        // A flipped bit in a 32-bit count or a timestamp cannot be detected: counted, not asserted.
        figure(`time ${mode} udp corrupt/truncate`, {
          queries: 60,
          ok: run.outcomes.ok ?? 0,
          undetectableWrong: run.wrong,
          ...Object.fromEntries(Object.entries(run.outcomes).filter(([k]) => k !== 'ok')),
          ms,
          maxMs: run.maxMs,
          ...proxy.stats,
        });
      }
      figure('time udp malformed dropped by the server', {
        sntp: server.udpStats('sntp')?.malformed ?? 0,
        strftime: server.udpStats('strftime')?.malformed ?? 0,
        sntpMalformed: server.sntpStats.malformed,
      });
      await canary.assertHealthy();
      // Still answering every format, directly.
      for (const [mode, options, check] of formats) {
        const r = await queryTime(portOf(at, mode), { ...options, timeoutMs: 1_000 });
        assert.ok(check(r.offsetMs, r.text), `${mode} after the faults`);
      }
    },
  );
});

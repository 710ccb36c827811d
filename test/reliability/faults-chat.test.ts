// Chat (framed clients) through the chaos TCP proxy, with a direct canary
// client served throughout: under slicing and latency every message is
// delivered exactly once and in order per sender; a client reset through the
// proxy leaves the roster consistent (the others see `left`, the nick is free).
// The broker's own semantics are in test/services/chat/broker.test.ts.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import {
  ChatClient,
  SockitError,
  type Address,
  type ChatEvent,
  type ChatMessageEvent,
} from '../../src/index.js';
import { Canary, figure, timed, within } from '../helpers/chaos/canary.js';
import { ChaosTcpProxy } from '../helpers/chaos/tcp-proxy.js';
import { startChat } from '../helpers/chat.js';

const T = { timeout: 30_000 };
const SEED = Number(process.env.CHAOS_SEED ?? 868);

async function chatCanary(t: TestContext, tcp: Address): Promise<Canary> {
  const client = await ChatClient.connect(tcp, { timeoutMs: 1_000 });
  t.after(() => {
    client.destroy();
  });
  await client.join('canary', 'canary');
  let n = 0;
  return Canary.start(t, 'chat', async () => {
    const roster = await client.who('canary');
    assert.deepEqual(roster.nicks, ['canary'], `probe ${n++}`);
  });
}

/** A framed client that records every event, and lets a test wait for one. */
async function member(
  t: TestContext,
  address: Address,
): Promise<{
  client: ChatClient;
  events: ChatEvent[];
  closed: Promise<SockitError | undefined>;
  until: (match: (e: ChatEvent) => boolean, what: string) => Promise<ChatEvent>;
}> {
  const events: ChatEvent[] = [];
  const waiters: { match: (e: ChatEvent) => boolean; resolve: (e: ChatEvent) => void }[] = [];
  let onClose: (e: SockitError | undefined) => void = () => undefined;
  const closed = new Promise<SockitError | undefined>((resolve) => (onClose = resolve));
  const client = await ChatClient.connect(address, {
    timeoutMs: 5_000,
    onEvent: (e) => {
      events.push(e);
      for (const w of waiters.splice(0)) {
        if (w.match(e)) w.resolve(e);
        else waiters.push(w);
      }
    },
    onClose: (e) => {
      onClose(e);
    },
  });
  t.after(() => {
    client.destroy();
  });
  const until = (match: (e: ChatEvent) => boolean, what: string): Promise<ChatEvent> => {
    const seen = events.find(match);
    if (seen) return Promise.resolve(seen);
    return within(
      10_000,
      what,
      new Promise((resolve) => {
        waiters.push({ match, resolve });
      }),
    );
  };
  return { client, events, closed, until };
}

describe('chat under TCP faults', () => {
  it(
    'sliced 1-7 bytes up, 1-64 down, 5 ms + 10 ms jitter: every message exactly once, in order per sender',
    T,
    async (t) => {
      const { tcp } = await startChat(t, { rateLimit: false });
      const canary = await chatCanary(t, tcp);
      const proxy = await ChaosTcpProxy.start(t, tcp, {
        seed: SEED,
        up: { slice: { min: 1, max: 7 }, latencyMs: 5, jitterMs: 10 },
        down: { slice: { min: 1, max: 64 }, latencyMs: 5, jitterMs: 10 },
      });
      const nicks = ['ann', 'bob', 'cy'];
      const members = [];
      for (const nick of nicks) {
        const m = await member(t, proxy.address);
        await m.client.join('room', nick);
        members.push(m);
      }
      // Everyone sees everyone who joined after them before anyone speaks.
      for (const [i, m] of members.entries()) {
        for (const nick of nicks.slice(i))
          await m.until(
            (e) => e.type === 'joined' && e.nick === nick,
            `${m.client.nick} to see ${nick} join`,
          );
      }
      const PER = 40;
      const started = performance.now();
      for (let i = 0; i < PER; i++) {
        for (const m of members) m.client.say(`${m.client.nick} ${i} ${'x'.repeat(i * 7)}`, 'room');
      }
      for (const m of members) {
        await m.until(
          () => m.events.filter((e) => e.type === 'message').length >= PER * nicks.length,
          `${m.client.nick} to get ${PER * nicks.length} messages`,
        );
      }
      const ms = Math.round(performance.now() - started);
      for (const m of members) {
        const got = m.events.filter((e): e is ChatMessageEvent => e.type === 'message');
        assert.equal(got.length, PER * nicks.length, `${m.client.nick}: ${got.length} messages`);
        assert.equal(new Set(got.map((e) => e.id)).size, got.length, 'a duplicate message id');
        for (const nick of nicks) {
          const texts = got.filter((e) => e.from === nick).map((e) => e.text);
          assert.deepEqual(
            texts,
            Array.from({ length: PER }, (_, i) => `${nick} ${i} ${'x'.repeat(i * 7)}`),
            `${m.client.nick} saw ${nick}'s messages out of order or changed`,
          );
        }
      }
      figure('chat tcp slice/latency', {
        members: nicks.length,
        sent: PER * nicks.length,
        delivered: PER * nicks.length * nicks.length,
        duplicates: 0,
        ms,
      });
      await canary.assertHealthy();
      assert.equal(proxy.stats.resets, 0);
    },
  );

  it(
    'a client reset through the proxy: the others see it left, the roster and the nick are consistent',
    T,
    async (t) => {
      const { tcp } = await startChat(t, { rateLimit: false });
      const canary = await chatCanary(t, tcp);
      const proxy = await ChaosTcpProxy.start(t, tcp, {
        seed: SEED,
        down: { slice: { min: 1, max: 16 }, latencyMs: 5 },
      });
      const ann = await member(t, tcp);
      await ann.client.join('room', 'ann');
      const bob = await member(t, proxy.address);
      await bob.client.join('room', 'bob');
      await ann.until((e) => e.type === 'joined' && e.nick === 'bob', 'ann to see bob');
      bob.client.say('before the reset', 'room');
      await ann.until((e) => e.type === 'message' && e.from === 'bob', 'bob message');
      proxy.resetAll();
      const { value: error, ms } = await timed(within(3_000, 'bob closed', bob.closed));
      assert.ok(error instanceof SockitError, String(error));
      assert.equal(error.code, 'CONNECTION_RESET');
      const left = await ann.until(
        (e) => e.type === 'left' && e.nick === 'bob',
        'ann to see bob leave',
      );
      assert.equal((left as { room: string }).room, 'room');
      assert.equal(
        ann.events.filter((e) => e.type === 'left' && e.nick === 'bob').length,
        1,
        'left told once',
      );
      assert.deepEqual((await ann.client.who('room')).nicks, ['ann']);
      // bob's nick is free again: a new client takes it.
      const bob2 = await member(t, tcp);
      await bob2.client.join('room', 'bob');
      assert.deepEqual([...(await ann.client.who('room')).nicks].sort(), ['ann', 'bob']);
      figure('chat tcp client reset', {
        code: error.code,
        clientMs: ms,
        leftReason: String((left as { reason?: string }).reason),
        leftToldTimes: 1,
      });
      await canary.assertHealthy();
    },
  );
});

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { RedisChatBus, type ChatServerOptions } from '../../../src/index.js';
import { silentLogger, type LogFn, type Logger } from '../../../src/log.js';
import { FramedPeer, TextPeer, startChat, type StartedChat } from '../../helpers/chat.js';
import { RedisServer } from '../../helpers/redis.js';

const T = { timeout: 30_000 };

/** Short timers, so lapses happen within a test. */
const FAST = { nickTtlMs: 600, heartbeatMs: 100 };

type Node = StartedChat & { bus: RedisChatBus };

async function node(
  t: TestContext,
  redis: RedisServer,
  options: ChatServerOptions = {},
): Promise<Node> {
  const bus = new RedisChatBus({ url: redis.url(), ...FAST });
  const started = await startChat(t, { ...options, bus });
  return { ...started, bus };
}

/** A plain client for poking Redis the way another program would. */
function raw(t: TestContext, redis: RedisServer): Redis {
  const client = new Redis(redis.url(), { lazyConnect: false, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined); // it outlives the server in teardown
  t.after(() => client.disconnect());
  return client;
}

/** A logger that is silent but for `event` at warn level: `seen` resolves on the first. */
function warnedOf(event: string): { logger: Logger; seen: Promise<void> } {
  let resolveSeen: () => void = () => undefined;
  const seen = new Promise<void>((resolve) => {
    resolveSeen = resolve;
  });
  const warn: LogFn = (fields) => {
    if (fields.event === event) resolveSeen();
  };
  const logger: Logger = { ...silentLogger, warn, child: () => logger };
  return { logger, seen };
}

const messages = (peer: FramedPeer, room: string): unknown[] =>
  peer.events.items
    .filter((e) => e.type === 'message' && e.room === room && e.history !== true)
    .map((e) => [e.id, e.from, e.text]);

describe('chat across nodes through Redis', () => {
  it('rooms, rosters, history and private messages span nodes', T, async (t) => {
    const redis = await RedisServer.start(t);
    if (redis === undefined) return;
    const a = await node(t, redis);
    const b = await node(t, redis);
    const ann = await FramedPeer.connect(t, a.tcp);
    const bob = await FramedPeer.connect(t, b.tcp);
    await ann.join('dev', 'ann');
    ann.send({ type: 'say', room: 'dev', text: 'before bob' });
    await ann.wait((e) => e.type === 'message' && e.text === 'before bob');
    const roster = await bob.join('dev', 'bob');
    assert.deepEqual(roster.nicks, ['ann', 'bob']);
    const history = await bob.wait((e) => e.type === 'message' && e.history === true);
    assert.equal(history.text, 'before bob');
    await ann.wait((e) => e.type === 'joined' && e.nick === 'bob');

    for (let i = 0; i < 10; i++) {
      (i % 2 === 0 ? ann : bob).send({ type: 'say', room: 'dev', text: `m${i}` });
    }
    for (const p of [ann, bob]) {
      await p.wait(
        () =>
          messages(p, 'dev').filter((m) => /^m\d$/.test((m as string[])[2] ?? '')).length === 10,
        'ten messages',
      );
    }
    const seenByAnn = messages(ann, 'dev').slice(-10);
    assert.deepEqual(messages(bob, 'dev').slice(-10), seenByAnn, 'one order, the same ids');
    const ids = seenByAnn.map((m) => (m as number[])[0] as number);
    assert.deepEqual(
      [...ids].sort((x, y) => x - y),
      ids,
    );

    bob.send({ type: 'msg', to: 'ANN', text: 'psst' });
    const got = await ann.wait((e) => e.type === 'message' && e.to === 'ann');
    assert.equal(got.from, 'bob');
    assert.equal(got.text, 'psst');
    bob.send({ type: 'msg', to: 'nobody', text: 'x', ref: 'p2' });
    assert.equal((await bob.wait((e) => e.ref === 'p2')).code, 'NO_SUCH_NICK');

    // Nicks are unique across nodes, whatever their case.
    const other = await FramedPeer.connect(t, b.tcp);
    other.send({ type: 'nick', nick: 'Ann', ref: 'n1' });
    assert.equal((await other.wait((e) => e.ref === 'n1')).code, 'NICK_TAKEN');

    // A text user on a third node sees the room and its leaving.
    const c = await node(t, redis);
    const nc = await TextPeer.connect(t, c.tcp);
    nc.line('/join dev');
    await nc.waitLine(/^\* #dev: ann bob guest\d+$/);
    ann.send({ type: 'say', room: 'dev', text: 'to all three' });
    await nc.waitLine('<ann> to all three');
    bob.send({ type: 'leave', room: 'dev' });
    await nc.waitLine('* bob left #dev');
    await ann.wait((e) => e.type === 'left' && e.nick === 'bob');
  });

  it('a node that closes takes its members out of the rosters', T, async (t) => {
    const redis = await RedisServer.start(t);
    if (redis === undefined) return;
    const a = await node(t, redis);
    const b = await node(t, redis);
    const ann = await FramedPeer.connect(t, a.tcp);
    const bob = await FramedPeer.connect(t, b.tcp);
    await ann.join('dev', 'ann');
    await bob.join('dev', 'bob');
    await b.server.close(0);
    await ann.wait((e) => e.type === 'left' && e.nick === 'bob');
    ann.send({ type: 'who', room: 'dev', ref: 'w' });
    assert.deepEqual((await ann.wait((e) => e.ref === 'w')).nicks, ['ann']);
    const again = await FramedPeer.connect(t, a.tcp);
    again.send({ type: 'nick', nick: 'bob', ref: 'n' });
    assert.equal((await again.wait((e) => e.ref === 'n')).type, 'nick');
  });

  it('foreign and malformed stream entries are skipped, counted and logged', T, async (t) => {
    const redis = await RedisServer.start(t);
    if (redis === undefined) return;
    const a = await node(t, redis);
    const ann = await FramedPeer.connect(t, a.tcp);
    await ann.join('dev', 'ann');
    const r = raw(t, redis);
    await r.xadd('sockit:chat:room:dev', '*', 'from', 'not a nick!', 'text', 'x', 'ts', '1');
    await r.xadd('sockit:chat:room:dev', '*', 'junk', 'yes');
    await r.xadd('sockit:chat:presence', '*', 'type', 'joined', 'node', 'zz');
    await r.xadd('sockit:chat:room:dev', '*', 'from', 'eve', 'text', 'fine', 'ts', '5');
    const fine = await ann.wait((e) => e.type === 'message' && e.text === 'fine');
    assert.equal(fine.from, 'eve');
    assert.ok(!ann.events.items.some((e) => e.type === 'message' && e.text === 'x'));
    assert.ok(!ann.events.items.some((e) => e.type === 'joined' && e.nick !== 'ann'));
    // The presence entry came before `fine` and is read with it or earlier.
    assert.equal(a.bus.stats.malformed, 3);
  });

  it(
    'Redis restarting: sends refused while down, told once, then reconnected, resubscribed and rebuilt',
    T,
    async (t) => {
      const redis = await RedisServer.start(t);
      if (redis === undefined) return;
      const a = await node(t, redis);
      const b = await node(t, redis);
      const ann = await FramedPeer.connect(t, a.tcp);
      const bob = await FramedPeer.connect(t, b.tcp);
      await ann.join('dev', 'ann');
      await bob.join('dev', 'bob');
      const ncA = await TextPeer.connect(t, a.tcp);
      const ncB = await TextPeer.connect(t, b.tcp);
      ncA.line('/who');
      ncB.line('/who');
      await ncA.waitLine('* #lobby:');
      await ncB.waitLine('* #lobby:');

      await redis.stop();
      const down = (e: { type: string; code?: unknown; ref?: unknown }): boolean =>
        e.type === 'error' && e.code === 'CLUSTER_UNAVAILABLE' && e.ref === undefined;
      await ann.wait(down, 'the degraded notice');
      await ncA.waitLine('error CLUSTER_UNAVAILABLE:');
      ann.send({ type: 'say', room: 'dev', text: 'lost?', ref: 'r1' });
      assert.equal((await ann.wait((e) => e.ref === 'r1')).code, 'CLUSTER_UNAVAILABLE');
      ncA.line('also lost?');
      await ncA.waitLine(/error CLUSTER_UNAVAILABLE: .*send again/);

      await redis.restart();
      await ncA.waitLine('* the chat cluster is back');
      await ncB.waitLine('* the chat cluster is back');
      assert.equal(ann.events.items.filter(down).length, 1, 'told once');
      bob.send({ type: 'say', room: 'dev', text: 'after' });
      await ann.wait((e) => e.type === 'message' && e.text === 'after');
      ann.send({ type: 'say', room: 'dev', text: 'and back' });
      await bob.wait((e) => e.type === 'message' && e.text === 'and back');
      assert.ok(!bob.events.items.some((e) => e.text === 'lost?' || e.text === 'also lost?'));
      ann.send({ type: 'who', room: 'dev', ref: 'w' });
      const roster = (await ann.wait((e) => e.ref === 'w')).nicks as string[];
      assert.deepEqual([...roster].sort(), ['ann', 'bob']);
      const thief = await FramedPeer.connect(t, b.tcp);
      thief.send({ type: 'nick', nick: 'ann', ref: 'n' });
      assert.equal((await thief.wait((e) => e.ref === 'n')).code, 'NICK_TAKEN');
      assert.ok(a.bus.stats.recovered >= 1);
    },
  );

  it(
    'Redis refusing writes on a live connection: a leave is done once it takes them again, a join is refused',
    T,
    async (t) => {
      const redis = await RedisServer.start(t);
      if (redis === undefined) return;
      const { logger, seen: failed } = warnedOf('cluster_leave_failed');
      const bus = new RedisChatBus({ url: redis.url(), ...FAST, logger });
      const a = { ...(await startChat(t, { bus })), bus };
      const b = await node(t, redis);
      const ann = await FramedPeer.connect(t, a.tcp);
      const carol = await FramedPeer.connect(t, a.tcp);
      const bob = await FramedPeer.connect(t, b.tcp);
      await ann.join('dev', 'ann');
      await bob.join('dev', 'bob');
      await ann.wait((e) => e.type === 'joined' && e.nick === 'bob', 'bob joined');
      await carol.join('lobby', 'carol');
      const r = raw(t, redis);
      // Every write refused (NOREPLICAS), reads answered, no connection dropped.
      await r.config('SET', 'min-replicas-to-write', '1');
      ann.send({ type: 'leave', room: 'dev' });
      await failed;
      assert.deepEqual(await r.zrange('sockit:chat:roster:dev', 0, -1), ['ann', 'bob']);
      carol.send({ type: 'join', room: 'dev', ref: 'j' });
      assert.equal((await carol.wait((e) => e.ref === 'j')).code, 'CLUSTER_UNAVAILABLE');
      await r.config('SET', 'min-replicas-to-write', '0');
      // No reconnect comes (the connection never dropped): the next heartbeat does it.
      const left = await bob.wait((e) => e.type === 'left' && e.nick === 'ann', 'ann left');
      assert.equal(left.room, 'dev');
      assert.deepEqual(await r.zrange('sockit:chat:roster:dev', 0, -1), ['bob']);
      assert.equal(a.bus.stats.recovered, 0, 'it was never down');
    },
  );

  it(
    'a rebuild that Redis refuses (OOM) is tried again until it works; the node does not stay down',
    T,
    async (t) => {
      const redis = await RedisServer.start(t);
      if (redis === undefined) return;
      // The bus's warnings, to know its rebuild was refused before Redis takes writes again.
      const { logger, seen: failedOnce } = warnedOf('cluster_rebuild_failed');
      const bus = new RedisChatBus({ url: redis.url(), ...FAST, logger });
      const a = await startChat(t, { bus });
      const nc = await TextPeer.connect(t, a.tcp);
      nc.line('/nick ann');
      await nc.waitLine('is now known as ann');
      const r = raw(t, redis);
      // Every write refused from now on; then drop the node's connections (not ours).
      await r.config('SET', 'maxmemory-policy', 'noeviction');
      await r.config('SET', 'maxmemory', '1');
      await r.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await nc.waitLine('error CLUSTER_UNAVAILABLE:');
      // The node reconnects at once, but its rebuild (lease renewals, members) fails with OOM.
      await failedOnce;
      await r.config('SET', 'maxmemory', '0');
      await nc.waitLine('* the chat cluster is back');
      nc.line('still here');
      const bob = await FramedPeer.connect(t, a.tcp);
      await bob.join('lobby', 'bob');
      nc.line('and talking');
      await bob.wait((e) => e.type === 'message' && e.text === 'and talking');
    },
  );
});

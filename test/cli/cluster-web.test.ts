// Web users in a chat cluster, as users run it: two `sockit serve web
// --cluster` gateways (each with the broker it starts for itself) and one
// `sockit serve chat --cluster` node on one redis-server. A browser-side
// WebSocket user on either gateway and an nc-style user on the chat node
// share a room, private messages, the roster and nick uniqueness (issue #14:
// "web users … on any node").
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { parseAddress } from '../../src/index.js';
import { TextPeer } from '../helpers/chat.js';
import { startCli, startServe } from '../helpers/proc.js';
import { RedisServer } from '../helpers/redis.js';
import { WsPeer } from '../helpers/web.js';

const T = { timeout: 60_000 };

/** `sockit serve web --cluster URL` on a free port; resolves with its ws:// URL for /ws. */
async function startWebNode(t: TestContext, cluster: string): Promise<string> {
  const proc = startCli(t, [
    'serve',
    'web',
    '--port',
    '0',
    '--cluster',
    cluster,
    '--allow-no-origin',
  ]);
  const ready = await proc.waitFor((r) => r.event === 'ready', 'the gateway ready line');
  const services = ready.services as { addresses: string[] }[];
  const hostPort = String(services[0]?.addresses[0]).replace(/^http /, '');
  return `ws://${hostPort}/ws`;
}

const messageText = (e: Record<string, unknown>): string => String(e.text);

describe('web gateways in a chat cluster', () => {
  it(
    'WebSocket users on two gateways and a text user on a chat node are one chat',
    T,
    async (t) => {
      const redis = await RedisServer.start(t);
      if (redis === undefined) return;
      const chat = await startServe(t, ['chat', '--port', '0', '--cluster', redis.url()]);
      const web1 = await startWebNode(t, redis.url());
      const web2 = await startWebNode(t, redis.url());

      const alice = await WsPeer.open(t, web1, null);
      await alice.join('lobby', 'alice');
      const bob = await WsPeer.open(t, web2, null);
      const roster = await bob.join('lobby', 'bob');
      assert.deepEqual(roster.nicks, ['alice', 'bob'], 'the roster spans gateways');
      await alice.event('joined', (e) => e.nick === 'bob');

      const nc = await TextPeer.connect(t, parseAddress(chat.tcp, { port: 0 }));
      nc.line('/nick carol');
      await nc.waitLine('is now known as carol');
      // A text user arrives in #lobby as a guest, then renames: both gateways hear it.
      await alice.event('nick', (e) => e.nick === 'carol');
      await bob.event('nick', (e) => e.nick === 'carol');

      // Every direction, once each.
      alice.sendJson({ type: 'say', room: 'lobby', text: 'from alice on gateway 1' });
      await bob.event('message', (e) => e.text === 'from alice on gateway 1');
      await nc.waitLine('#lobby <alice> from alice on gateway 1');
      bob.sendJson({ type: 'say', room: 'lobby', text: 'from bob on gateway 2' });
      await alice.event('message', (e) => e.text === 'from bob on gateway 2');
      await nc.waitLine('#lobby <bob> from bob on gateway 2');
      nc.line('from carol on the chat node');
      await alice.event('message', (e) => e.text === 'from carol on the chat node');
      await bob.event('message', (e) => e.text === 'from carol on the chat node');

      // A private message crosses gateways and reaches only its target.
      alice.sendJson({ type: 'msg', to: 'bob', text: 'just bob' });
      const pm = await bob.event('message', (e) => e.text === 'just bob');
      assert.equal(pm.from, 'alice');
      assert.equal(pm.to, 'bob');

      // A nick held on one gateway is taken on the other, for browsers too.
      const mallory = await WsPeer.open(t, web2, null);
      mallory.sendJson({ type: 'join', room: 'lobby', nick: 'alice', ref: 'dup' });
      const refused = await mallory.event('error', (e) => e.ref === 'dup');
      assert.equal(refused.code, 'NICK_TAKEN');

      // One order, once: the three room messages as each user saw them.
      const said = [
        'from alice on gateway 1',
        'from bob on gateway 2',
        'from carol on the chat node',
      ];
      for (const peer of [alice, bob]) {
        const seen = peer
          .events()
          .filter((e) => e.type === 'message' && e.room === 'lobby')
          .map(messageText);
        assert.deepEqual(seen, said);
      }
      assert.ok(
        !mallory.events().some((e) => e.text === 'just bob'),
        'the private message went to bob only',
      );
      nc.line('/who');
      await nc.waitLine(/^\* #lobby: alice bob carol$/);
    },
  );
});

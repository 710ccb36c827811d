import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChatServer, RedisChatBus, type Address } from '../../../src/index.js';
import { FramedPeer, type Event } from '../../helpers/chat.js';
import { LOOPBACK } from '../../helpers/net.js';
import { RedisServer } from '../../helpers/redis.js';

// Issue #14: for any interleaving of sends on 3 nodes, every member on every
// node sees every message of the room once, in one order, and each sender's
// messages in the order they were sent.
const NODES = 3;

describe('a room across 3 nodes: one order, each message once (property)', () => {
  it('holds for random interleavings of sends', { timeout: 120_000 }, async (t) => {
    const redis = await RedisServer.start(t);
    if (redis === undefined) return;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        // Which of 6 members (2 per node) sends next; sent back to back, unawaited.
        fc.array(fc.nat({ max: 2 * NODES - 1 }), { minLength: 1, maxLength: 40 }),
        async (senders) => {
          run++;
          const servers: ChatServer[] = [];
          const addresses: Address[] = [];
          try {
            for (let n = 0; n < NODES; n++) {
              const bus = new RedisChatBus({ url: redis.url(), prefix: `prop${run}:` });
              const server = new ChatServer({ bus });
              servers.push(server);
              addresses.push(await server.listen(LOOPBACK));
            }
            const peers: FramedPeer[] = [];
            for (let m = 0; m < 2 * NODES; m++) {
              const peer = await FramedPeer.connect(t, addresses[m % NODES] as Address);
              await peer.join('r', `m${m}`);
              peers.push(peer);
            }
            // Every join has been answered: each member is in the room on its node.
            senders.forEach((m, i) => {
              (peers[m] as FramedPeer).send({ type: 'say', room: 'r', text: `${m}:${i}` });
            });
            const last = `${senders.at(-1)}:${senders.length - 1}`;
            const seen = (p: FramedPeer): Event[] =>
              p.events.items.filter((e) => e.type === 'message' && e.history !== true);
            for (const p of peers) {
              await p.wait(
                () => seen(p).length >= senders.length,
                `${senders.length} messages (last ${last})`,
              );
            }
            const reference = seen(peers[0] as FramedPeer).map((e) => [e.id, e.text]);
            assert.equal(reference.length, senders.length, 'each message once');
            for (const p of peers)
              assert.deepEqual(
                seen(p).map((e) => [e.id, e.text]),
                reference,
              );
            const ids = reference.map(([id]) => id as number);
            assert.deepEqual(
              [...ids].sort((a, b) => a - b),
              ids,
              'ids increase in the order seen',
            );
            for (let m = 0; m < 2 * NODES; m++) {
              const mine = reference
                .map(([, text]) => String(text))
                .filter((x) => x.startsWith(`${m}:`));
              const order = mine.map((x) => Number(x.split(':')[1]));
              assert.deepEqual(
                [...order].sort((a, b) => a - b),
                order,
                `m${m}'s messages in send order`,
              );
            }
            for (const p of peers) p.socket.destroy();
          } finally {
            await Promise.all(servers.map((s) => s.close(0)));
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});

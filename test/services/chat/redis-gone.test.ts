// The members a Redis chat node could not take out of the rosters while Redis
// refused it (redis-gone.ts): settled against a real redis-server, each once,
// those who leave while it is being settled too, and never more than the bound.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { silentLogger } from '../../../src/log.js';
import { CLUSTER_MAX_GONE } from '../../../src/services/chat/limits.js';
import { RedisKeys } from '../../../src/services/chat/redis-entries.js';
import { GoneMembers } from '../../../src/services/chat/redis-gone.js';
import { RedisServer } from '../../helpers/redis.js';

const keys = new RedisKeys('sockit:chat:');

describe('GoneMembers', () => {
  it('settles every member, including one who leaves while it runs, with one left event each', async (t) => {
    const redis = await RedisServer.start(t);
    if (redis === undefined) return;
    const cmd = new Redis(redis.url());
    t.after(() => cmd.disconnect());
    await cmd.zadd(keys.roster('dev'), 1, 'ann', 2, 'bob', 3, 'cy', 4, 'dee');
    await cmd.sadd(keys.members('n1'), 'dev ann', 'dev bob', 'dev cy', 'dev dee');
    const back = new Set(['dev dee']); // dee left and came back: nothing to undo
    const gone = new GoneMembers(
      keys,
      'n1',
      (room, nick) => back.has(`${room} ${nick}`),
      silentLogger,
    );
    gone.add('dev', 'ann', 'quit', 10);
    gone.add('dev', 'bob', 'quit', 11);
    gone.add('dev', 'ann', 'quit', 12); // once, the latest
    gone.add('dev', 'dee', 'quit', 13);
    const settling = gone.settle(cmd);
    gone.add('dev', 'cy', 'timeout', 14); // while the first round trip is on its way
    await settling;
    assert.equal(gone.size, 0);
    assert.deepEqual(await cmd.zrange(keys.roster('dev'), 0, -1), ['dee']);
    assert.deepEqual(await cmd.smembers(keys.members('n1')), ['dev dee']);
    const news = (await cmd.xrange(keys.presence, '-', '+')).map(([, f]) => {
      const at = (name: string): string | undefined => f[f.indexOf(name) + 1];
      return [at('type'), at('nick'), at('reason'), at('ts')];
    });
    assert.deepEqual(news, [
      ['left', 'bob', 'quit', '11'],
      ['left', 'ann', 'quit', '12'], // her latest leave, in its place
      ['left', 'cy', 'timeout', '14'],
    ]);
  });

  it(`remembers at most ${CLUSTER_MAX_GONE}, forgetting the oldest`, () => {
    const gone = new GoneMembers(keys, 'n1', () => false, silentLogger);
    for (let i = 0; i <= CLUSTER_MAX_GONE; i++) gone.add('dev', `u${i}`, 'quit', i);
    assert.equal(gone.size, CLUSTER_MAX_GONE);
    assert.equal(gone.forgotten, 1);
  });
});

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { RedisServer } from '../../helpers/redis.js';

/** One PING over a raw socket, in RESP: the helper is checked without the client under test. */
async function ping(port: number): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write('PING\r\n');
  const [reply] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  return reply.toString();
}

async function refused(port: number): Promise<boolean> {
  const socket = connect({ host: '127.0.0.1', port });
  // events.once rejects when the socket emits 'error' first: that is the refusal.
  const connected = await once(socket, 'connect').then(
    () => true,
    () => false,
  );
  socket.destroy();
  return !connected;
}

describe('the redis-server test helper', () => {
  it('starts a real redis-server, stops it and restarts it empty on the same port', async (t) => {
    const redis = await RedisServer.start(t);
    if (redis === undefined) return;
    assert.equal(await ping(redis.port), '+PONG\r\n');
    assert.match(redis.url(2), /^redis:\/\/127\.0\.0\.1:\d+\/2$/);
    await redis.stop();
    assert.equal(redis.running, false);
    assert.equal(await refused(redis.port), true);
    await redis.restart();
    assert.equal(await ping(redis.port), '+PONG\r\n');
    await redis.stop('SIGKILL');
  });
});

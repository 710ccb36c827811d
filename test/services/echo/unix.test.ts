import assert from 'node:assert/strict';
import { lstat, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { EchoClient, EchoServer, SockitError, type Address } from '../../../src/index.js';
import { startEcho, tempDir } from '../../helpers/echo.js';
import { rawConnect, readAll } from '../../helpers/net.js';
import { leaveStaleUnixSocket } from '../../helpers/proc.js';

const T = { timeout: 20_000 };

test(
  'unix socket listener: framed and raw clients, socket file private to its owner',
  T,
  async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'echo.sock');
    const { tcp } = await startEcho(t, {}, { tcp: { kind: 'unix', path } });
    assert.deepEqual(tcp, { kind: 'unix', path });
    assert.ok((await lstat(path)).isSocket());
    assert.equal((await stat(path)).mode & 0o777, 0o600);

    const client = await EchoClient.connect(tcp);
    t.after(() => {
      client.destroy();
    });
    assert.equal(client.remote, 'unix');
    assert.equal(
      (await client.request(Buffer.from('over a unix socket'))).toString(),
      'OVER A UNIX SOCKET',
    );
    const big = Buffer.alloc(2 * 1024 * 1024, 'b');
    assert.ok((await client.request(big)).equals(Buffer.alloc(big.length, 'B')));

    const raw = await rawConnect(tcp);
    t.after(() => raw.destroy());
    const all = readAll(raw);
    raw.end('plain text\n');
    assert.equal((await all).toString(), 'PLAIN TEXT\n');
  },
);

test('unix socket: a stale socket file (no server behind it) is replaced', T, async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'stale.sock');
  await leaveStaleUnixSocket(path);
  assert.ok((await lstat(path)).isSocket(), 'a stale socket file remains');

  const { tcp } = await startEcho(t, {}, { tcp: { kind: 'unix', path } });
  const client = await EchoClient.connect(tcp);
  t.after(() => {
    client.destroy();
  });
  assert.equal((await client.request(Buffer.from('fresh'))).toString(), 'FRESH');
});

test(
  'unix socket: a live server on the path is ALREADY_RUNNING; a regular file is never replaced',
  T,
  async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'live.sock');
    const first = await startEcho(t, {}, { tcp: { kind: 'unix', path } });

    const second = new EchoServer();
    t.after(() => second.close(0));
    await assert.rejects(second.listen({ tcp: { kind: 'unix', path } }), (err: unknown) => {
      assert.ok(err instanceof SockitError);
      assert.equal(err.code, 'ALREADY_RUNNING');
      assert.match(err.message, /already running/);
      return true;
    });
    // The first server is untouched.
    const client = await EchoClient.connect(first.tcp);
    t.after(() => {
      client.destroy();
    });
    assert.equal((await client.request(Buffer.from('still mine'))).toString(), 'STILL MINE');

    const file = join(dir, 'not-a-socket');
    await writeFile(file, 'precious');
    const third = new EchoServer();
    t.after(() => third.close(0));
    await assert.rejects(third.listen({ tcp: { kind: 'unix', path: file } }), {
      code: 'NOT_A_SOCKET',
    });
    assert.equal((await stat(file)).size, 'precious'.length);
  },
);

test('unix socket: closing the server removes the socket file', T, async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'gone.sock');
  const server = new EchoServer();
  t.after(() => server.close(0));
  const where: Address = { kind: 'unix', path };
  await server.listen({ tcp: where });
  await server.close(0);
  await assert.rejects(lstat(path), { code: 'ENOENT' });
});

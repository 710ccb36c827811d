import assert from 'node:assert/strict';
import { once } from 'node:events';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Address } from '../../src/index.js';
import { tempDir } from '../helpers/echo.js';
import { frame, rawConnect, readAll } from '../helpers/net.js';
import { leaveStaleUnixSocket, runCli, startCli, startServe } from '../helpers/proc.js';

const T = { timeout: 20_000 };

function inet(text: string): Address {
  const [host, port] = text.split(':');
  return { kind: 'inet', host: host!, port: Number(port) };
}

test('sockit serve logs structured JSON lines: listening, ready, connect, close', T, async (t) => {
  const { proc, tcp, udp } = await startServe(t, ['echo', '--port', '0']);
  const listening = proc.records.filter((r) => r.event === 'listening').map((r) => r.address);
  assert.deepEqual(listening, [tcp, `udp ${udp}`]);
  for (const r of proc.records) {
    assert.equal(typeof r.time, 'number');
    assert.equal(typeof r.level, 'number');
  }

  const socket = await rawConnect(inet(tcp));
  const all = readAll(socket);
  socket.end(frame('log me'));
  assert.deepEqual(await all, frame('LOG ME'));
  const connect = await proc.waitFor((r) => r.event === 'connect', 'connect');
  const close = await proc.waitFor((r) => r.event === 'close', 'close');
  assert.equal(connect.service, 'echo');
  assert.match(String(connect.remote), /^127\.0\.0\.1:\d+$/);
  assert.equal(close.conn, connect.conn);
  assert.equal(close.bytesIn, 10);
  assert.equal(close.bytesOut, 10);
  assert.equal(close.code, undefined, 'an orderly close has no error code');
});

test('SIGTERM: sockit serve finishes open connections, logs shutdown, exits 0', T, async (t) => {
  const { proc, tcp } = await startServe(t, ['echo', '--port', '0']);
  const client = await rawConnect(inet(tcp));
  t.after(() => client.destroy());
  client.write('still here\n');
  await once(client, 'data');
  const ended = once(client, 'end'); // the server finishes its side

  proc.kill('SIGTERM');
  const result = await proc.result;
  await ended;
  assert.equal(result.signal, null, 'exited by itself, not killed by the signal');
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
  const shutdown = proc.records.find((r) => r.event === 'shutdown');
  assert.deepEqual(shutdown?.signal, 'SIGTERM');
  const events = proc.records.map((r) => r.event);
  assert.ok(
    events.indexOf('shutdown') < events.lastIndexOf('closed'),
    `order: ${events.join(', ')}`,
  );

  // The port is really free again.
  const refused = await runCli(t, ['echo', tcp, 'x']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /CONNECTION_REFUSED/);
});

test(
  'SIGINT or SIGTERM sent the moment `ready` is logged is still a graceful exit 0',
  T,
  async (t) => {
    // A supervisor may signal as soon as it reads `ready`: the handlers must already be in place.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGINT', 'SIGTERM'] as const) {
      const { proc } = await startServe(t, ['echo', '--port', '0']);
      proc.kill(signal);
      const result = await proc.result;
      assert.equal(result.signal, null, `${signal}: killed instead of shutting down`);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(proc.records.find((r) => r.event === 'shutdown')?.signal, signal);
    }
  },
);

test('sockit serve echo --no-udp serves TCP only', T, async (t) => {
  const { proc, tcp, udp } = await startServe(t, ['echo', '--port', '0', '--no-udp']);
  assert.equal(udp, undefined);
  assert.deepEqual(
    proc.records.filter((r) => r.event === 'listening').map((r) => r.address),
    [tcp],
  );
});

test(
  'sockit serve on a port already in use: one-line ADDRESS_IN_USE error, exit 1',
  T,
  async (t) => {
    const first = await startServe(t, ['echo', '--no-udp', '--port', '0']);
    const port = first.tcp.split(':')[1]!;
    const second = startCli(t, ['serve', 'echo', '--no-udp', '--port', port]);
    const result = await second.result;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^sockit: [^\n]*address already in use \(ADDRESS_IN_USE\)\n$/);
    // The first server is unharmed.
    const r = await runCli(t, ['echo', first.tcp, 'ok']);
    assert.equal(r.stdout, 'OK\n');
  },
);

test('unix socket: a stale file from a SIGKILLed server is cleaned up on restart', T, async (t) => {
  const path = join(await tempDir(t), 'echo.sock');
  // A real sockit server, killed without a chance to clean up.
  const killed = await startServe(t, ['echo', '--listen', `unix:${path}`]);
  killed.proc.kill('SIGKILL');
  assert.equal((await killed.proc.result).signal, 'SIGKILL');
  assert.ok((await lstat(path)).isSocket(), 'the killed server left its socket file behind');

  const restarted = await startServe(t, ['echo', '--listen', `unix:${path}`]);
  assert.equal(restarted.tcp, `unix:${path}`);
  const r = await runCli(t, ['echo', `unix:${path}`, 'back']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'BACK\n');
});

test('unix socket: a stale file left by another program is cleaned up too', T, async (t) => {
  const path = join(await tempDir(t), 'other.sock');
  await leaveStaleUnixSocket(path);
  const { tcp } = await startServe(t, ['echo', '--listen', `unix:${path}`]);
  assert.equal(tcp, `unix:${path}`);
});

test(
  'unix socket: a second server on a live path fails with "already running", exit 1',
  T,
  async (t) => {
    const path = join(await tempDir(t), 'echo.sock');
    const first = await startServe(t, ['echo', '--listen', `unix:${path}`]);
    const second = startCli(t, ['serve', 'echo', '--listen', `unix:${path}`]);
    const result = await second.result;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^sockit: [^\n]*already running[^\n]*\(ALREADY_RUNNING\)\n$/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
    // The first server still owns the path and answers.
    assert.ok(first.proc.running);
    const r = await runCli(t, ['echo', `unix:${path}`, 'mine']);
    assert.equal(r.stdout, 'MINE\n');
  },
);

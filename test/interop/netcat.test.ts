import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { EchoClient } from '../../src/index.js';
import { startEcho, tempDir } from '../helpers/echo.js';
import { portOf } from '../helpers/net.js';
import { run } from '../helpers/proc.js';
import { requireTool } from '../helpers/tools.js';

const T = { timeout: 20_000 };

// netcat-openbsd: -N shuts down the socket's write side after stdin EOF, so nc
// exits once the server has answered and closed.

test('nc: raw text typed to the echo port comes back upper-cased', T, async (t) => {
  if (!requireTool(t, 'nc', 'netcat-openbsd')) return;
  const { tcp } = await startEcho(t);
  const r = await run(t, 'nc', ['-N', '127.0.0.1', String(portOf(tcp))], { input: 'hello\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'HELLO\n');
});

test('nc: several lines, CRLF and non-ASCII bytes', T, async (t) => {
  if (!requireTool(t, 'nc', 'netcat-openbsd')) return;
  const { tcp } = await startEcho(t);
  const input = 'one\ntwo, Zwei, ß\r\nlast line without newline';
  const r = await run(t, 'nc', ['-N', '127.0.0.1', String(portOf(tcp))], { input });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ONE\nTWO, ZWEI, ß\r\nLAST LINE WITHOUT NEWLINE');
});

test('nc and a framed client share the auto port at the same time', T, async (t) => {
  if (!requireTool(t, 'nc', 'netcat-openbsd')) return;
  const { tcp } = await startEcho(t);
  const framed = await EchoClient.connect(tcp);
  t.after(() => {
    framed.destroy();
  });
  const [r, reply] = await Promise.all([
    run(t, 'nc', ['-N', '127.0.0.1', String(portOf(tcp))], { input: 'from nc\n' }),
    framed.request(Buffer.from('from a framed client')),
  ]);
  assert.equal(r.stdout, 'FROM NC\n');
  assert.equal(reply.toString(), 'FROM A FRAMED CLIENT');
});

test(
  'nc against --reply hello: greeting, "Hello, <msg>!", and exit closes the connection',
  T,
  async (t) => {
    if (!requireTool(t, 'nc', 'netcat-openbsd')) return;
    const { tcp } = await startEcho(t, { reply: 'hello' });
    // No -N: nc keeps its side open, so it only exits because the server closes on "exit".
    const r = await run(t, 'nc', ['127.0.0.1', String(portOf(tcp))], { input: 'bob\nexit\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Welcome!\nHello, bob!\n');
  },
);

test('nc -u: a datagram is answered upper-cased (nc -W 1 exits after one reply)', T, async (t) => {
  if (!requireTool(t, 'nc', 'netcat-openbsd')) return;
  const { udp } = await startEcho(t);
  const r = await run(t, 'nc', ['-u', '-W', '1', '127.0.0.1', String(portOf(udp))], {
    input: 'hi there\n',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'HI THERE\n');
});

test('nc -U: the echo service on a Unix socket', T, async (t) => {
  if (!requireTool(t, 'nc', 'netcat-openbsd')) return;
  const path = join(await tempDir(t), 'echo.sock');
  await startEcho(t, {}, { tcp: { kind: 'unix', path } });
  const r = await run(t, 'nc', ['-N', '-U', path], { input: 'over unix\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'OVER UNIX\n');
});

test('nc against a server at maxConnections reads one "error BUSY: ..." line', T, async (t) => {
  if (!requireTool(t, 'nc', 'netcat-openbsd')) return;
  const { tcp } = await startEcho(t, { tcp: { maxConnections: 1 } });
  const holder = await EchoClient.connect(tcp);
  t.after(() => {
    holder.destroy();
  });
  assert.equal((await holder.request(Buffer.from('mine'))).toString(), 'MINE');
  const r = await run(t, 'nc', ['127.0.0.1', String(portOf(tcp))], { input: 'let me in\n' });
  assert.match(r.stdout, /^error BUSY: [^\n]+\n$/);
});

test('ncat: raw text over TCP and over a Unix socket', T, async (t) => {
  if (!requireTool(t, 'ncat')) return;
  const { tcp } = await startEcho(t);
  const r = await run(t, 'ncat', ['127.0.0.1', String(portOf(tcp))], { input: 'hello ncat\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'HELLO NCAT\n');

  const path = join(await tempDir(t), 'echo.sock');
  await startEcho(t, {}, { tcp: { kind: 'unix', path } });
  const u = await run(t, 'ncat', ['-U', path], { input: 'ncat unix\n' });
  assert.equal(u.code, 0, u.stderr);
  assert.equal(u.stdout, 'NCAT UNIX\n');
});

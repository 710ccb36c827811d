import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startEcho, tempDir } from '../helpers/echo.js';
import { frame, portOf } from '../helpers/net.js';
import { run } from '../helpers/proc.js';
import { requireTool } from '../helpers/tools.js';

const T = { timeout: 20_000 };

// socat passes stdin's EOF on as a half-close and exits once the server closes too.

test('socat - TCP: stdin text comes back upper-cased', T, async (t) => {
  if (!requireTool(t, 'socat')) return;
  const { tcp } = await startEcho(t);
  const r = await run(t, 'socat', ['-t', '10', '-', `TCP:127.0.0.1:${portOf(tcp)}`], {
    input: 'hello socat\nline two\n',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'HELLO SOCAT\nLINE TWO\n');
});

test('socat - UNIX-CONNECT: the echo service on a Unix socket', T, async (t) => {
  if (!requireTool(t, 'socat')) return;
  const path = join(await tempDir(t), 'echo.sock');
  await startEcho(t, {}, { tcp: { kind: 'unix', path } });
  const r = await run(t, 'socat', ['-t', '10', '-', `UNIX-CONNECT:${path}`], {
    input: 'over unix\n',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'OVER UNIX\n');
});

test('socat as a binary pipe: u32be frames in, u32be frames out', T, async (t) => {
  if (!requireTool(t, 'socat')) return;
  const { tcp } = await startEcho(t);
  const input = Buffer.concat([
    frame('abc'),
    frame(''),
    frame(Buffer.from([0x00, 0x61, 0xff, 0x7a])),
  ]);
  const r = await run(t, 'socat', ['-t', '10', '-', `TCP:127.0.0.1:${portOf(tcp)}`], { input });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    r.stdoutBytes,
    Buffer.concat([frame('ABC'), frame(''), frame(Buffer.from([0x00, 0x41, 0xff, 0x5a]))]),
  );
});

test('socat - TCP against --reply hello: the greeting comes first', T, async (t) => {
  if (!requireTool(t, 'socat')) return;
  const { tcp } = await startEcho(t, { reply: 'hello' });
  const r = await run(t, 'socat', ['-t', '10', '-', `TCP:127.0.0.1:${portOf(tcp)}`], {
    input: 'socat\nexit\n',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Welcome!\nHello, socat!\n');
});

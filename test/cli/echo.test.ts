import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/echo.js';
import { muteServer, rawConnect } from '../helpers/net.js';
import { runCli, startServe, type RunResult } from '../helpers/proc.js';

const T = { timeout: 20_000 };

function assertOk(r: RunResult): void {
  assert.equal(r.code, 0, `exit ${r.code}, stderr: ${r.stderr}`);
  assert.equal(r.stderr, '');
}

/** One line on stderr, `sockit: ... (CODE)`, and nothing that looks like a stack trace. */
function assertOneLineError(r: RunResult, code: string): void {
  assert.equal(r.code, 1, `exit ${r.code}, stderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^sockit: [^\\n]+ \\(${code}\\)\\n$`));
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.equal(r.stdout, '');
}

/** A 127.0.0.1 port nobody listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise((resolve) => probe.close(resolve));
  return address.port;
}

test('sockit serve echo --port 0, then sockit echo HOST:PORT a b prints A and B', T, async (t) => {
  const { tcp } = await startServe(t, ['echo', '--port', '0']);
  assert.match(tcp, /^127\.0\.0\.1:\d+$/);
  const r = await runCli(t, ['echo', tcp, 'a', 'b']);
  assertOk(r);
  assert.equal(r.stdout, 'A\nB\n');
});

test(
  'sockit echo: with no MSG, each stdin line is a message; replies print in order',
  T,
  async (t) => {
    const { tcp } = await startServe(t, ['echo', '--port', '0']);
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i} ü`);
    const r = await runCli(t, ['echo', tcp], { input: `${lines.join('\n')}\n` });
    assertOk(r);
    assert.equal(r.stdout, lines.map((l) => `${l.toUpperCase().replace('Ü', 'ü')}\n`).join(''));
  },
);

test('sockit echo --json prints one JSON object per reply', T, async (t) => {
  const { tcp } = await startServe(t, ['echo', '--port', '0']);
  const r = await runCli(t, ['echo', '--json', tcp, 'hello', 'World']);
  assertOk(r);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    events.map(({ type, message, reply, bytes }) => ({ type, message, reply, bytes })),
    [
      { type: 'reply', message: 'hello', reply: 'HELLO', bytes: 5 },
      { type: 'reply', message: 'World', reply: 'WORLD', bytes: 5 },
    ],
  );
  for (const e of events) assert.equal(typeof e.rttMs, 'number');
});

test('sockit echo --udp talks to the UDP side of the echo service', T, async (t) => {
  const { udp } = await startServe(t, ['echo', '--port', '0']);
  assert.ok(udp, 'serve reports a UDP address');
  const r = await runCli(t, ['echo', '--udp', udp, 'a', 'datagram two']);
  assertOk(r);
  assert.equal(r.stdout, 'A\nDATAGRAM TWO\n');
  const j = await runCli(t, ['echo', '--udp', '--json', udp, 'x']);
  assertOk(j);
  assert.deepEqual((JSON.parse(j.stdout) as { reply: string }).reply, 'X');
});

test('sockit echo --framing raw and --framing u32le', T, async (t) => {
  const auto = await startServe(t, ['echo', '--port', '0']);
  const raw = await runCli(t, ['echo', '--framing', 'raw', auto.tcp, 'as text', 'lines']);
  assertOk(raw);
  assert.equal(raw.stdout, 'AS TEXT\nLINES\n');

  const le = await startServe(t, ['echo', '--port', '0', '--framing', 'u32le']);
  const r = await runCli(t, ['echo', '--framing', 'u32le', le.tcp, 'little']);
  assertOk(r);
  assert.equal(r.stdout, 'LITTLE\n');
});

test(
  'sockit echo against serve --reply hello: greeting first, each reply with its message',
  T,
  async (t) => {
    const raw = await startServe(t, ['echo', '--port', '0', '--reply', 'hello']);
    const r = await runCli(t, ['echo', '--framing', 'raw', raw.tcp, 'bob', 'alice']);
    assertOk(r);
    assert.equal(r.stdout, 'Welcome!\nHello, bob!\nHello, alice!\n');
    const j = await runCli(t, ['echo', '--json', '--framing', 'raw', raw.tcp, 'bob', 'alice']);
    assertOk(j);
    assert.deepEqual(
      j.stdout
        .trimEnd()
        .split('\n')
        .map((l) => {
          const { type, message, reply } = JSON.parse(l) as Record<string, unknown>;
          return { type, message, reply };
        }),
      [
        { type: 'message', message: 'Welcome!', reply: undefined },
        { type: 'reply', message: 'bob', reply: 'Hello, bob!' },
        { type: 'reply', message: 'alice', reply: 'Hello, alice!' },
      ],
    );

    const framed = await startServe(t, [
      'echo',
      '--port',
      '0',
      '--reply',
      'hello',
      '--framing',
      'u32be',
    ]);
    const f = await runCli(t, ['echo', framed.tcp, 'carol']);
    assertOk(f);
    assert.equal(f.stdout, 'Welcome!\nHello, carol!\n');
  },
);

test('sockit serve echo --listen unix:PATH, and sockit echo unix:PATH', T, async (t) => {
  const path = join(await tempDir(t), 'echo.sock');
  const { tcp, udp } = await startServe(t, ['echo', '--listen', `unix:${path}`]);
  assert.equal(tcp, `unix:${path}`);
  assert.equal(udp, undefined, 'a Unix-socket listener has no UDP side');
  const r = await runCli(t, ['echo', `unix:${path}`, 'over', 'unix']);
  assertOk(r);
  assert.equal(r.stdout, 'OVER\nUNIX\n');
});

test(
  'sockit echo: connection refused exits 1 with one line on stderr, no stack trace',
  T,
  async (t) => {
    const port = await closedPort();
    const r = await runCli(t, ['echo', `127.0.0.1:${port}`, 'a']);
    assertOneLineError(r, 'CONNECTION_REFUSED');
    assert.equal(
      r.stderr,
      `sockit: connect to 127.0.0.1:${port}: connection refused (CONNECTION_REFUSED)\n`,
    );

    const j = await runCli(t, ['echo', '--json', `127.0.0.1:${port}`, 'a']);
    assert.equal(j.code, 1);
    assert.deepEqual(JSON.parse(j.stdout), {
      type: 'error',
      code: 'CONNECTION_REFUSED',
      message: `connect to 127.0.0.1:${port}: connection refused`,
    });
  },
);

test('sockit echo: a missing Unix socket is a refused connection too (exit 1)', T, async (t) => {
  const path = join(await tempDir(t), 'nobody-here.sock');
  assertOneLineError(await runCli(t, ['echo', `unix:${path}`, 'a']), 'CONNECTION_REFUSED');
});

test(
  'sockit echo: a server that never answers is TIMEOUT after --timeout, exit 1',
  T,
  async (t) => {
    const port = await muteServer(t);
    const started = performance.now();
    const r = await runCli(t, ['echo', '--timeout', '500ms', `127.0.0.1:${port}`, 'anyone?']);
    assertOneLineError(r, 'TIMEOUT');
    assert.ok(performance.now() - started < 10_000, 'gave up long before the 10 s default');
  },
);

test('sockit echo against a busy server: BUSY, exit 1', T, async (t) => {
  const { tcp } = await startServe(t, ['echo', '--port', '0', '--max-connections', '1']);
  const [host, port] = tcp.split(':');
  const holder = await rawConnect({ kind: 'inet', host: host!, port: Number(port) });
  t.after(() => holder.destroy());
  // Make sure the holder has been admitted before the CLI client arrives.
  holder.write('hold\n');
  await once(holder, 'data');
  const r = await runCli(t, ['echo', tcp, 'a']);
  assertOneLineError(r, 'BUSY');
});

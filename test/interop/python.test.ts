import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { startEcho } from '../helpers/echo.js';
import { jsonLines, portOf } from '../helpers/net.js';
import { run } from '../helpers/proc.js';
import { requireTool } from '../helpers/tools.js';

const T = { timeout: 20_000 };
const FRAMED = fileURLToPath(new URL('peers/framed_client.py', import.meta.url));
const UDP = fileURLToPath(new URL('peers/udp_client.py', import.meta.url));

const MESSAGES = ['hello', 'Grüße, world', 'x'];

function expectFramedSession(stdout: string): void {
  assert.deepEqual(jsonLines(stdout), [
    { reply: 'HELLO' },
    { reply: 'GRüßE, WORLD' },
    { reply: 'X' },
    { sticky: ['HELLO', 'GRüßE, WORLD', 'X'] },
    { emptyLength: 0 },
    { bigLength: 2 * 1024 * 1024, bigUpper: true },
    { eof: true },
  ]);
}

test(
  'python3 socket client, struct.pack("!I", n), against the default (auto) echo port',
  T,
  async (t) => {
    if (!requireTool(t, 'python3')) return;
    const { tcp } = await startEcho(t);
    const r = await run(t, 'python3', [
      FRAMED,
      '127.0.0.1',
      String(portOf(tcp)),
      '!I',
      ...MESSAGES,
    ]);
    assert.equal(r.code, 0, r.stderr);
    expectFramedSession(r.stdout);
  },
);

test('python3 socket client, struct.pack("i", n), against a u32le listener', T, async (t) => {
  if (!requireTool(t, 'python3')) return;
  const { tcp } = await startEcho(t, { framing: 'u32le' });
  const r = await run(t, 'python3', [FRAMED, '127.0.0.1', String(portOf(tcp)), 'i', ...MESSAGES]);
  assert.equal(r.code, 0, r.stderr);
  expectFramedSession(r.stdout);
});

test('python3 raw text client: sendall, shutdown(SHUT_WR), read to EOF', T, async (t) => {
  if (!requireTool(t, 'python3')) return;
  const { tcp } = await startEcho(t);
  const script = [
    'import socket, sys',
    's = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)',
    's.sendall(b"hello from python\\nsecond line\\n")',
    's.shutdown(socket.SHUT_WR)',
    'data = b""',
    'while True:',
    '    chunk = s.recv(4096)',
    '    if not chunk: break',
    '    data += chunk',
    'sys.stdout.write(data.decode())',
  ].join('\n');
  const r = await run(t, 'python3', ['-c', script, String(portOf(tcp))]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'HELLO FROM PYTHON\nSECOND LINE\n');
});

test(
  'python3 UDP client (SOCK_DGRAM, sendto/recvfrom): replies come from the server address',
  T,
  async (t) => {
    if (!requireTool(t, 'python3')) return;
    const { udp } = await startEcho(t);
    const port = portOf(udp);
    const r = await run(t, 'python3', [UDP, '127.0.0.1', String(port), 'hello udp', 'ÄäÖö ok', '']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(jsonLines(r.stdout), [
      { reply: 'HELLO UDP', from: ['127.0.0.1', port] },
      { reply: 'ÄäÖö OK', from: ['127.0.0.1', port] },
      { reply: '', from: ['127.0.0.1', port] },
    ]);
  },
);

test('python3 UDP client against --reply hello: "Hello, <msg>!"', T, async (t) => {
  if (!requireTool(t, 'python3')) return;
  const { udp } = await startEcho(t, { reply: 'hello' });
  const r = await run(t, 'python3', [UDP, '127.0.0.1', String(portOf(udp)), 'bob\n', 'alice']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    jsonLines(r.stdout).map((l) => l.reply),
    ['Hello, bob!', 'Hello, alice!'],
  );
});

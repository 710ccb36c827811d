import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startEcho } from '../helpers/echo.js';
import { portOf } from '../helpers/net.js';
import { run, startServe } from '../helpers/proc.js';
import { requireTool } from '../helpers/tools.js';

const T = { timeout: 30_000 };

// The tutorial's own client for the threaded greeting server, as written:
// names sent with no newline, one recv(1024) each; then `exit`, and the
// server closes (recv returns b''). A hang here is the bug #15 describes,
// so every recv has a deadline.
const TUTORIAL_CLIENT = [
  'import socket, sys',
  's = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)',
  'print(s.recv(1024).decode("utf-8"), end="|")',
  'for data in [b"Michael", b"Tracy", b"Sarah"]:',
  '    s.send(data)',
  '    print(s.recv(1024).decode("utf-8"), end="|")',
  's.send(b"exit")',
  'print("closed" if s.recv(1024) == b"" else "still open")',
].join('\n');

const EXPECTED = 'Welcome!\n|Hello, Michael!|Hello, Tracy!|Hello, Sarah!|closed\n';

test(
  'the tutorial python client (no newlines, recv after each send, exit) against `sockit serve echo --reply hello`',
  T,
  async (t) => {
    if (!requireTool(t, 'python3')) return;
    const { tcp } = await startServe(t, ['echo', '--reply', 'hello', '--port', '0']);
    const port = tcp.slice(tcp.lastIndexOf(':') + 1);
    const r = await run(t, 'python3', ['-c', TUTORIAL_CLIENT, port]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, EXPECTED);
  },
);

test('the same client against the library server, and an `exit` with a line end', T, async (t) => {
  if (!requireTool(t, 'python3')) return;
  const { tcp } = await startEcho(t, { reply: 'hello' });
  const r = await run(t, 'python3', ['-c', TUTORIAL_CLIENT, String(portOf(tcp))]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, EXPECTED);
  const withNewline = TUTORIAL_CLIENT.replace('s.send(b"exit")', 's.send(b"exit\\n")');
  const r2 = await run(t, 'python3', ['-c', withNewline, String(portOf(tcp))]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(r2.stdout, EXPECTED);
});

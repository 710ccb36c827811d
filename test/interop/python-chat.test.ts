import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TextPeer, startChat } from '../helpers/chat.js';
import { portOf } from '../helpers/net.js';
import { run } from '../helpers/proc.js';
import { requireTool } from '../helpers/tools.js';

const T = { timeout: 20_000 };

// A tutorial-style client: send a name with no newline, wait for an answer, repeat; then quit.
const TUTORIAL_CLIENT = [
  'import socket, sys',
  's = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)',
  'data = b""',
  'for name in [b"Michael", b"Tracy", b"Sarah"]:',
  '    s.sendall(name)',
  '    while b"> " + name + b"\\n" not in data:',
  '        data += s.recv(1024)',
  's.sendall(b"/quit")',
  'while True:',
  '    chunk = s.recv(1024)',
  '    if not chunk: break',
  '    data += chunk',
  'sys.stdout.write(data.decode())',
].join('\n');

test(
  'a python client that sends without a newline gets its answer (chat text mode)',
  T,
  async (t) => {
    if (!requireTool(t, 'python3')) return;
    const { tcp } = await startChat(t);
    const watcher = await TextPeer.connect(t, tcp);
    watcher.line('/nick watcher');
    await watcher.waitLine('is now known as watcher');

    const r = await run(t, 'python3', ['-c', TUTORIAL_CLIENT, String(portOf(tcp))]);
    assert.equal(r.code, 0, r.stderr);
    const nick = /welcome, (guest\d+)/.exec(r.stdout)?.[1];
    assert.ok(nick !== undefined, r.stdout);
    for (const name of ['Michael', 'Tracy', 'Sarah']) {
      assert.ok(r.stdout.includes(`#lobby <${nick}> ${name}\n`), r.stdout);
    }
    assert.ok(r.stdout.endsWith('* bye\n'), r.stdout);

    // Everyone else got each message once, as a line of its own.
    await watcher.waitLine(`* ${nick} left #lobby (quit)`);
    const said = watcher.lines.items.filter((l) => l.startsWith(`#lobby <${nick}>`));
    assert.deepEqual(said, [
      `#lobby <${nick}> Michael`,
      `#lobby <${nick}> Tracy`,
      `#lobby <${nick}> Sarah`,
    ]);
  },
);

test('an nc user typing lines is unchanged: no receipt of its own lines', T, async (t) => {
  const { tcp } = await startChat(t);
  const ann = await TextPeer.connect(t, tcp);
  ann.line('/nick ann');
  await ann.waitLine('is now known as ann');
  const bob = await TextPeer.connect(t, tcp);
  bob.line('/nick bob');
  await ann.waitLine('is now known as bob');
  ann.line('typed with a newline');
  await bob.waitLine('#lobby <ann> typed with a newline');
  ann.line('/who');
  await ann.waitLine('* #lobby: ann bob');
  assert.ok(!ann.lines.items.some((l) => l.includes('<ann>')), ann.lines.items.join('\n'));
});

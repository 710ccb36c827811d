import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { MessengerPeer, type IncomingMessage } from '../../src/index.js';
import { tempDir } from '../helpers/echo.js';
import { LOOPBACK, jsonLines, portOf } from '../helpers/net.js';
import { CLI, finished, runCli } from '../helpers/proc.js';

const T = { timeout: 20_000 };

async function bob(
  t: TestContext,
): Promise<{ peer: MessengerPeer; port: number; inbox: IncomingMessage[] }> {
  const inbox: IncomingMessage[] = [];
  const peer = await MessengerPeer.bind(LOOPBACK, { name: 'bob', onMessage: (m) => inbox.push(m) });
  t.after(() => peer.close());
  return { peer, port: portOf(peer.local), inbox };
}

describe('sockit msg', () => {
  it('one-shot: sends, waits for the ack, reports the delivery', T, async (t) => {
    const b = await bob(t);
    const r = await runCli(t, [
      'msg',
      `127.0.0.1:${b.port}`,
      'hello',
      'there',
      '--json',
      '--name',
      'al',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [delivered] = jsonLines(r.stdout);
    const [got] = b.inbox;
    assert.ok(delivered && got);
    assert.equal(delivered.type, 'delivered');
    assert.equal(delivered.attempts, 1);
    assert.deepEqual([got.text, got.from, got.id], ['hello there', 'al', delivered.id]);
  });

  it('one-shot to nobody: UNDELIVERED and exit code 1; an unknown contact too', T, async (t) => {
    const mute = createSocket('udp4');
    mute.bind(0, '127.0.0.1');
    await once(mute, 'listening');
    t.after(() => mute.close());
    const r = await runCli(t, ['msg', `127.0.0.1:${mute.address().port}`, 'hi', '--attempts', '2']);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /not delivered: no ack from 127\.0\.0\.1:\d+ after 2 sends \(UNDELIVERED\)/,
    );
    const u = await runCli(t, ['msg', 'carol', 'hi']);
    assert.equal(u.code, 1);
    assert.match(u.stdout, /UNKNOWN_CONTACT/);
  });

  it(
    'a peer: contacts from a file, "name: text" lines, incoming messages printed',
    T,
    async (t) => {
      const b = await bob(t);
      const dir = await tempDir(t);
      const contacts = join(dir, 'contacts.json');
      await writeFile(contacts, JSON.stringify({ bob: `127.0.0.1:${b.port}` }));
      const child = spawn(process.execPath, [CLI, 'msg', '--port', '0', '--contacts', contacts], {
        stdio: 'pipe',
      });
      t.after(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      const result = finished(child);
      let out = '';
      const waiters: { text: string; resolve: () => void }[] = [];
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        for (const w of waiters.splice(0)) {
          if (out.includes(w.text)) w.resolve();
          else waiters.push(w);
        }
      });
      const seen = (text: string): Promise<void> =>
        out.includes(text)
          ? Promise.resolve()
          : new Promise((resolve) => {
              waiters.push({ text, resolve });
            });
      await seen('listening on udp');
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      child.stdin.write('bob: hi bob\n');
      await seen('delivered to bob (1 send');
      assert.equal(b.inbox[0]?.text, 'hi bob');
      await b.peer.send({ host: '127.0.0.1', port }, 'back \x1b[31mat\x1b[0m you');
      await seen('bob: back \\x1b[31mat\\x1b[0m you');
      // The last sender is the default target: a bare line goes to bob.
      child.stdin.end('and again\n');
      const r = await result;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(b.inbox[1]?.text, 'and again');
    },
  );
});

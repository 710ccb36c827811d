import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, it, type TestContext } from 'node:test';
import { parseAddress } from '../../src/index.js';
import { FramedPeer } from '../helpers/chat.js';
import { jsonLines } from '../helpers/net.js';
import { CLI, runCli, startServe } from '../helpers/proc.js';
import { requireTool } from '../helpers/tools.js';

const T = { timeout: 20_000 };

/** A long-running line-oriented child (nc, the chat CLI) whose output lines can be awaited. */
function lineChild(t: TestContext, command: string, args: string[]) {
  const child = spawn(command, args, { stdio: 'pipe' });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    partial += text;
    let nl: number;
    while ((nl = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push(line);
      for (const w of waiters.splice(0)) {
        if (w.match(line)) w.resolve(line);
        else waiters.push(w);
      }
    }
  });
  const waitLine = (text: string): Promise<string> => {
    const seen = lines.find((l) => l.includes(text));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => waiters.push({ match: (l) => l.includes(text), resolve }));
  };
  return { child, lines, waitLine, send: (l: string) => child.stdin.write(`${l}\n`) };
}

describe('sockit chat', () => {
  it('two nc users and a framed client share a room on `sockit serve chat`', T, async (t) => {
    if (!requireTool(t, 'nc', 'netcat-openbsd')) return;
    const { tcp } = await startServe(t, ['chat', '--port', '0']);
    const port = tcp.split(':').at(-1) as string;
    const ann = lineChild(t, 'nc', ['127.0.0.1', port]);
    ann.send('/nick ann');
    await ann.waitLine('is now known as ann');
    const bob = lineChild(t, 'nc', ['-N', '127.0.0.1', port]); // -N: EOF on stdin sends FIN
    bob.send('/nick bob');
    await bob.waitLine('is now known as bob');
    const framed = await FramedPeer.connect(t, parseAddress(tcp, { port: 0 }));
    await framed.join('lobby', 'frames');
    ann.send('hello from ann');
    await bob.waitLine('#lobby <ann> hello from ann');
    await framed.wait((e) => e.type === 'message' && e.text === 'hello from ann');
    framed.send({ type: 'say', text: 'hello from frames' });
    await ann.waitLine('#lobby <frames> hello from frames');
    await bob.waitLine('#lobby <frames> hello from frames');
    bob.send('/msg ann just you');
    await ann.waitLine('*bob* just you');
    bob.child.stdin.end(); // EOF: nc finishes, the server says bob left
    await ann.waitLine('* bob left #lobby (quit)');
  });

  it('--json: JSON lines in, events out, end of input quits with 0', T, async (t) => {
    const { tcp } = await startServe(t, ['chat', '--port', '0']);
    const watcher = await FramedPeer.connect(t, parseAddress(tcp, { port: 0 }));
    await watcher.join('dev', 'watcher');
    const input =
      '{"type":"say","text":"hi from a bot"}\n' +
      'not json\n' +
      '{"type":"msg","to":"watcher","text":"psst"}\n' +
      '{"type":"who"}\n';
    const r = await runCli(t, ['chat', tcp, '--nick', 'bot', '--room', 'dev', '--json'], {
      input,
    });
    assert.equal(r.code, 0, r.stderr);
    const events = jsonLines(r.stdout);
    assert.deepEqual(events[0], { type: 'welcome', nick: 'guest2', version: 1 });
    assert.ok(
      events.some((e) => e.type === 'roster' && (e.nicks as string[]).join() === 'watcher,bot'),
    );
    assert.ok(
      events.some((e) => e.type === 'message' && e.from === 'bot' && e.text === 'hi from a bot'),
    );
    assert.ok(
      events.some((e) => e.type === 'error' && e.code === 'BAD_REQUEST' && e.local === true),
    );
    assert.ok(events.some((e) => e.type === 'message' && e.to === 'watcher' && e.text === 'psst'));
    await watcher.wait((e) => e.type === 'message' && e.text === 'psst');
    await watcher.wait((e) => e.type === 'left' && e.nick === 'bot');
  });

  it('a taken nick fails the start with NICK_TAKEN and exit code 1', T, async (t) => {
    const { tcp } = await startServe(t, ['chat', '--port', '0']);
    const holder = await FramedPeer.connect(t, parseAddress(tcp, { port: 0 }));
    await holder.join('lobby', 'taken');
    const r = await runCli(t, ['chat', tcp, '--nick', 'TAKEN']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^sockit: nickname "TAKEN" is taken \(NICK_TAKEN\)\n$/);
  });

  it('piped text: escapes in what others say are printed escaped', T, async (t) => {
    const { tcp } = await startServe(t, ['chat', '--port', '0']);
    const evil = await FramedPeer.connect(t, parseAddress(tcp, { port: 0 }));
    await evil.join('lobby', 'evil');
    const reader = lineChild(t, process.execPath, [CLI, 'chat', tcp, '--nick', 'reader']);
    await evil.wait((e) => e.type === 'joined' && e.nick === 'reader');
    evil.send({ type: 'say', text: 'x\x1b[2J\x1b]0;title\x07\u202eend' });
    const line = await reader.waitLine('<evil>');
    assert.match(line, /<evil> x\\x1b\[2J\\x1b\]0;title\\x07\\u202eend$/);
    reader.child.stdin.end();
  });

  it(
    'interactive (tmux): a message arriving mid-typing leaves the half line intact',
    T,
    async (t) => {
      if (!requireTool(t, 'tmux')) return;
      const { tcp } = await startServe(t, ['chat', '--port', '0']);
      const bob = await FramedPeer.connect(t, parseAddress(tcp, { port: 0 }));
      await bob.join('lobby', 'bob');
      const socket = `sockit-chat-${process.pid}`;
      const tmux = (...args: string[]) =>
        spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
      t.after(() => tmux('kill-server'));
      const started = tmux(
        'new-session',
        '-d',
        '-s',
        'chat',
        '-x',
        '100',
        '-y',
        '20',
        `${process.execPath} ${CLI} chat ${tcp} --nick alice`,
      );
      assert.equal(started.status, 0, started.stderr);
      const pane = (): string[] =>
        tmux('capture-pane', '-p', '-t', 'chat')
          .stdout.split('\n')
          .filter((l) => l.trim() !== '');
      // capture-pane has no change event: poll it briefly.
      const until = async (what: string, ok: (lines: string[]) => boolean): Promise<string[]> => {
        const deadline = performance.now() + 10_000;
        for (;;) {
          const lines = pane();
          if (ok(lines)) return lines;
          if (performance.now() > deadline)
            throw new Error(`pane never showed ${what}:\n${lines.join('\n')}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await until('the prompt', (l) => l.some((x) => x.includes('alice>')));
      await bob.wait((e) => e.type === 'joined' && e.nick === 'alice');
      tmux('send-keys', '-t', 'chat', '-l', 'half a li');
      await until('the typed text', (l) => (l.at(-1) ?? '').endsWith('alice> half a li'));
      bob.send({ type: 'say', text: 'incoming while you type' });
      const after = await until('the message', (l) =>
        l.some((x) => x.includes('<bob> incoming while you type')),
      );
      // The message is printed above; the last line is still the prompt with the half line.
      assert.match(after.at(-1) ?? '', /\[#lobby\] alice> half a li$/);
      assert.match(after.at(-2) ?? '', /#lobby <bob> incoming while you type$/);
      tmux('send-keys', '-t', 'chat', '-l', 'ne');
      tmux('send-keys', '-t', 'chat', 'Enter');
      const said = await bob.wait((e) => e.type === 'message' && e.from === 'alice');
      assert.equal(said.text, 'half a line');
      tmux('send-keys', '-t', 'chat', '-l', '/quit');
      tmux('send-keys', '-t', 'chat', 'Enter');
      await bob.wait((e) => e.type === 'left' && e.nick === 'alice');
    },
  );
});

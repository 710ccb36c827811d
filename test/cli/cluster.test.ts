import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parseAddress, type Address } from '../../src/index.js';
import { FramedPeer, TextPeer, type Event } from '../helpers/chat.js';
import { runCli, startServe, type LogProcess } from '../helpers/proc.js';
import { RedisServer } from '../helpers/redis.js';

// Nodes are real `sockit serve chat --cluster` processes with the default
// timers (nick lease 15 s, heartbeat 2 s): what a user runs.
const T = { timeout: 60_000 };
const NICK_TTL_MS = 15_000;

interface Node {
  proc: LogProcess;
  address: Address;
}

async function startNode(
  t: TestContext,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Node> {
  const { proc, tcp } = await startServe(t, ['chat', '--port', '0', ...args], { env });
  return { proc, address: parseAddress(tcp, { port: 0 }) };
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sockit-cluster-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Asks for `nick` on a fresh connection: 'nick' (granted) or the error code. */
async function claim(t: TestContext, node: Node, nick: string, ref: string): Promise<string> {
  const peer = await FramedPeer.connect(t, node.address);
  peer.send({ type: 'nick', nick, ref });
  const reply = await peer.wait((e) => e.ref === ref, `the answer to ${ref}`);
  peer.socket.destroy();
  return reply.type === 'nick' ? 'nick' : String(reply.code);
}

const said = (text: string) => (e: Event) => e.type === 'message' && e.text === text;

describe('sockit serve chat --cluster', () => {
  it(
    'text and envelope users on two nodes share a room; the password is never logged',
    T,
    async (t) => {
      const secret = 'hunter2-cluster-secret';
      const redis = await RedisServer.start(t, { password: secret });
      if (redis === undefined) return;
      const dir = await tempDir(t);
      const passwordFile = join(dir, 'redis-password');
      await writeFile(passwordFile, `${secret}\n`, { mode: 0o600 });
      // One node with the password in the URL, one from the environment and a file.
      const a = await startNode(t, ['--cluster', `redis://:${secret}@127.0.0.1:${redis.port}/0`]);
      const b = await startNode(t, ['--cluster-password-file', passwordFile], {
        ...process.env,
        SOCKIT_CLUSTER: redis.url(),
      });
      for (const node of [a, b]) {
        const cluster = await node.proc.waitFor((r) => r.event === 'cluster', 'the cluster line');
        assert.match(String(cluster.redis), /^redis:\/\/127\.0\.0\.1:\d+(\/0)?$/);
      }

      const ann = await TextPeer.connect(t, a.address);
      ann.line('/nick ann');
      await ann.waitLine('is now known as ann');
      const bob = await FramedPeer.connect(t, b.address);
      await bob.join('lobby', 'bob');
      await ann.waitLine('* bob joined #lobby');
      ann.line('hello from node a');
      await bob.wait(said('hello from node a'));
      bob.send({ type: 'say', room: 'lobby', text: 'hello from node b' });
      await ann.waitLine('#lobby <bob> hello from node b');
      bob.send({ type: 'msg', to: 'ann', text: 'just you' });
      await ann.waitLine(/just you/);
      // Nicks are one namespace across the nodes.
      assert.equal(await claim(t, b, 'ANN', 'n1'), 'NICK_TAKEN');

      for (const node of [a, b]) {
        node.proc.kill('SIGTERM');
        const result = await node.proc.result;
        assert.equal(result.code, 0, result.stderr);
        assert.ok(
          !result.stdout.includes(secret) && !result.stderr.includes(secret),
          'no password in the logs',
        );
      }
    },
  );

  it(
    'a node killed with SIGKILL: the others lose nothing, its nicks lapse within the lease, a new node rejoins',
    T,
    async (t) => {
      const redis = await RedisServer.start(t);
      if (redis === undefined) return;
      const cluster = ['--cluster', redis.url()];
      const a = await startNode(t, cluster);
      const b = await startNode(t, cluster);
      const c = await startNode(t, cluster);
      const ann = await FramedPeer.connect(t, a.address);
      const bob = await FramedPeer.connect(t, b.address);
      const cat = await FramedPeer.connect(t, c.address);
      await ann.join('dev', 'ann');
      await bob.join('dev', 'bob');
      await cat.join('dev', 'cat');
      await ann.wait((e) => e.type === 'joined' && e.nick === 'cat');

      a.proc.kill('SIGKILL');
      await a.proc.result;
      const killedAt = Date.now();
      // Never earlier than the lease: the nick stays taken right after the crash.
      assert.equal(await claim(t, b, 'ann', 'early'), 'NICK_TAKEN');
      for (let i = 0; i < 20; i++) bob.send({ type: 'say', room: 'dev', text: `b${i}` });
      await cat.wait(said('b19'), 'all of bob');
      const got = cat.events.items.filter(
        (e) => e.type === 'message' && /^b\d+$/.test(String(e.text)),
      );
      assert.deepEqual(
        got.map((e) => e.text),
        Array.from({ length: 20 }, (_, i) => `b${i}`),
      );

      // Presence: ann leaves the roster with the heartbeat timeout, seen by both.
      const left = await cat.wait((e) => e.type === 'left' && e.nick === 'ann', 'ann leaving');
      await bob.wait((e) => e.type === 'left' && e.nick === 'ann', 'ann leaving');
      assert.ok(Date.now() - killedAt < NICK_TTL_MS, `left after ${Date.now() - killedAt} ms`);
      assert.equal(typeof left.reason, 'string');
      bob.send({ type: 'who', room: 'dev', ref: 'w' });
      assert.deepEqual((await bob.wait((e) => e.ref === 'w')).nicks, ['bob', 'cat']);

      // The lease lapses (no event tells: ask every half second, up to the TTL and a margin).
      let granted = false;
      for (let i = 0; !granted && Date.now() - killedAt < NICK_TTL_MS + 5_000; i++) {
        granted = (await claim(t, b, 'ann', `late${i}`)) === 'nick';
        if (!granted) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      assert.ok(granted, 'the dead node’s nick is free again within the lease TTL');

      const a2 = await startNode(t, cluster);
      const again = await FramedPeer.connect(t, a2.address);
      await again.join('dev', 'ann2');
      await cat.wait((e) => e.type === 'joined' && e.nick === 'ann2');
      cat.send({ type: 'say', room: 'dev', text: 'welcome back' });
      await again.wait(said('welcome back'));
    },
  );

  it('a bad --cluster is refused before anything listens', T, async (t) => {
    for (const [args, pattern] of [
      [['--cluster', 'http://127.0.0.1:6379'], /redis:\/\/ or rediss:\/\//],
      [['--cluster', 'not a url'], /not a URL/],
      [['--cluster', 'redis://127.0.0.1:6379/x'], /database must be a number/],
      [['--cluster-password-file', '/nonexistent'], /needs --cluster/],
    ] as const) {
      const r = await runCli(t, ['serve', 'chat', '--port', '0', ...args], {
        env: { ...process.env, SOCKIT_CLUSTER: '' },
      });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    // Nothing at the address: one line that names it (never the password), exit 1.
    const down = await runCli(t, [
      'serve',
      'chat',
      '--port',
      '0',
      '--cluster',
      'redis://:pw@127.0.0.1:1',
    ]);
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      /^sockit: cannot reach the chat cluster's Redis at redis:\/\/127\.0\.0\.1:1: .*ECONNREFUSED.*\(CLUSTER_UNAVAILABLE\)\n$/,
    );
    assert.ok(!down.stderr.includes(':pw@'));
    const dir = await tempDir(t);
    const file = join(dir, 'pw');
    await writeFile(file, 'x\n');
    await chmod(file, 0o644);
    const r = await runCli(t, [
      'serve',
      'chat',
      '--cluster',
      'redis://127.0.0.1:1',
      '--cluster-password-file',
      file,
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /accessible by others/);
  });
});

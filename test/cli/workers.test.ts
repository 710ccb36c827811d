// `sockit serve --workers N` (#14): real `sockit serve` processes, a node:cluster
// primary and its workers. Which worker a connection landed on is read from the
// workers' own log lines (every line carries the worker's pid).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { parseAddress, type Address } from '../../src/index.js';
import { FramedPeer, TextPeer, type Event } from '../helpers/chat.js';
import { rawConnect } from '../helpers/net.js';
import { RedisServer } from '../helpers/redis.js';
import { runCli, startCli, startServe, type LogProcess } from '../helpers/proc.js';
import { WsPeer } from '../helpers/web.js';

const T = { timeout: 60_000 };

type Record_ = Record<string, unknown>;

/** Waits until `n` log records match (the waiter runs as each record arrives: no polling). */
function waitCount(proc: LogProcess, match: (r: Record_) => boolean, n: number, what: string) {
  return proc.waitFor(() => proc.records.filter(match).length >= n, what);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function workerPids(proc: LogProcess, n: number): Promise<number[]> {
  const isReady = (r: Record_): boolean => r.event === 'worker_ready';
  await waitCount(proc, isReady, n, `${n} worker_ready lines`);
  return proc.records.filter(isReady).map((r) => Number(r.workerPid));
}

/** One line to the echo port, its answer back. */
async function echoOnce(address: Address, text: string): Promise<string> {
  const socket = await rawConnect(address);
  try {
    socket.setEncoding('utf8');
    let got = '';
    const answer = new Promise<string>((resolve, reject) => {
      socket.on('data', (s: string) => {
        got += s;
        if (got.includes('\n')) resolve(got.trim());
      });
      socket.on('close', () => reject(new Error(`closed before an answer to ${text}`)));
    });
    socket.write(`${text}\n`);
    return await answer;
  } finally {
    socket.destroy();
  }
}

async function stopped(proc: LogProcess, pids: readonly number[]): Promise<void> {
  proc.kill('SIGTERM');
  const result = await proc.result;
  assert.equal(result.code, 0, result.stderr);
  for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} is gone`);
}

interface User {
  peer: TextPeer;
  nick: string;
  pid: number;
}

/** A text (nc-style) chat user; its worker is the pid of the worker that logged its hello. */
async function textUser(t: TestContext, proc: LogProcess, address: Address): Promise<User> {
  const start = proc.records.length; // a guest nick freed earlier may be given out again
  const peer = await TextPeer.connect(t, address);
  peer.line('/who'); // a text client is known by its first byte: then it is welcomed
  const welcome = await peer.waitLine(/^\* welcome, /);
  const nick = /welcome, ([^:]+):/.exec(welcome)?.[1] ?? '';
  const hello = await proc.waitFor(
    (r) => r.event === 'hello' && r.nick === nick && proc.records.indexOf(r) >= start,
    `hello ${nick}`,
  );
  await peer.waitLine(/^\* #lobby: /); // in the lobby, roster seen
  return { peer, nick, pid: Number(hello.pid) };
}

/** Text users until one is on a worker other than `not`'s (round-robin: the next one, as a rule). */
async function userElsewhere(
  t: TestContext,
  proc: LogProcess,
  address: Address,
  not: number,
): Promise<User> {
  for (let i = 0; i < 10; i++) {
    const u = await textUser(t, proc, address);
    if (u.pid !== not) return u;
    u.peer.socket.destroy();
  }
  throw new Error('every connection landed on one worker');
}

const isMessage = (e: Event): boolean => e.type === 'message' && e.history !== true;

describe('sockit serve --workers', () => {
  it(
    'echo: one ready line, connections spread over both workers, SIGTERM stops all',
    T,
    async (t) => {
      const { proc, tcp } = await startServe(t, ['echo', '--port', '0', '--workers', '2']);
      const pids = await workerPids(proc, 2);
      assert.equal(new Set(pids).size, 2);
      const address = parseAddress(tcp, { port: 0 });
      const answers = await Promise.all(
        Array.from({ length: 24 }, (_, i) => echoOnce(address, `hello ${i}`)),
      );
      assert.deepEqual(
        answers,
        Array.from({ length: 24 }, (_, i) => `HELLO ${i}`),
      );
      const isConnect = (r: Record_): boolean => r.event === 'connect' && r.service === 'echo';
      await waitCount(proc, isConnect, 24, '24 connect lines');
      const served = new Set(proc.records.filter(isConnect).map((r) => Number(r.pid)));
      assert.deepEqual([...served].sort(), [...pids].sort(), 'both workers served');
      await stopped(proc, pids);
      const ready = proc.records.filter((r) => r.event === 'ready');
      assert.equal(ready.length, 1, 'one ready line');
      const services = ready[0]?.services as { name: string; addresses: string[] }[];
      assert.deepEqual(
        services.map((s) => s.name),
        ['echo'],
      );
      assert.ok(services.some((s) => s.addresses.includes(`tcp ${tcp}`)));
      // UDP is worker 1's alone: only one worker logged a UDP listener.
      const udp = proc.records.filter(
        (r) => r.event === 'listening' && String(r.address).startsWith('udp '),
      );
      assert.equal(udp.length, 1);
      assert.equal(udp[0]?.worker, 1);
    },
  );

  it(
    'chat: users on two workers share the lobby in one order, nicks are one namespace, who lists all',
    T,
    async (t) => {
      const { proc, tcp } = await startServe(t, ['chat', '--port', '0', '--workers', '2']);
      const pids = await workerPids(proc, 2);
      const address = parseAddress(tcp, { port: 0 });
      const ann = await textUser(t, proc, address);
      const bob = await userElsewhere(t, proc, address, ann.pid);
      ann.peer.line('/nick ann');
      await ann.peer.waitLine('is now known as ann');
      await bob.peer.waitLine(`* ${ann.nick} is now known as ann`);
      bob.peer.line('/nick bob');
      await ann.peer.waitLine(`* ${bob.nick} is now known as bob`);
      // Two envelope watchers, one per worker, see the same messages with the same ids in one order.
      const watchers: FramedPeer[] = [];
      const watcherPids = new Set<number>();
      for (let i = 0; watcherPids.size < 2 && i < 10; i++) {
        const w = await FramedPeer.connect(t, address);
        const roster = await w.join('lobby', `watch${i}`);
        assert.ok((roster.nicks as string[]).includes('ann'));
        const hello = await proc.waitFor(
          (r) => r.event === 'nick' && r.nick === `watch${i}`,
          `watch${i}'s nick line`,
        );
        if (watcherPids.has(Number(hello.pid))) continue;
        watcherPids.add(Number(hello.pid));
        watchers.push(w);
      }
      assert.equal(watchers.length, 2, 'a watcher on each worker');
      for (let i = 0; i < 5; i++) {
        ann.peer.line(`a${i}`);
        bob.peer.line(`b${i}`);
      }
      const seen = await Promise.all(
        watchers.map(async (w) => {
          await w.wait((e) => isMessage(e) && e.text === 'a4');
          await w.wait((e) => isMessage(e) && e.text === 'b4');
          return w.events.items.filter(isMessage).map((e) => `${String(e.id)}:${String(e.text)}`);
        }),
      );
      assert.equal(seen[0]?.length, 10, `each once: ${seen[0]?.join(' ')}`);
      assert.deepEqual(seen[0], seen[1], 'one order on both workers');
      const ids = seen[0].map((s) => Number(s.split(':')[0]));
      assert.deepEqual(
        ids,
        [...ids].sort((x, y) => x - y),
        'ids increase in that order',
      );
      // Each text user sees the other's lines once, in order, and not its own.
      await ann.peer.waitLine('#lobby <bob> b4');
      await bob.peer.waitLine('#lobby <ann> a4');
      const fromBob = ann.peer.lines.items.filter((l) => l.startsWith('#lobby <bob> '));
      assert.deepEqual(
        fromBob,
        [0, 1, 2, 3, 4].map((i) => `#lobby <bob> b${i}`),
      );
      const fromAnn = bob.peer.lines.items.filter((l) => l.startsWith('#lobby <ann> '));
      assert.deepEqual(
        fromAnn,
        [0, 1, 2, 3, 4].map((i) => `#lobby <ann> a${i}`),
      );
      // A taken nick is refused whichever worker asks.
      for (let i = 0; i < 2; i++) {
        const other = await textUser(t, proc, address);
        other.peer.line(i === 0 ? '/nick ANN' : '/nick Bob');
        await other.peer.waitLine(/^error NICK_TAKEN: /);
        other.peer.socket.destroy();
      }
      // Private messages cross workers too.
      ann.peer.line('/msg bob just you');
      await bob.peer.waitLine('*ann* just you');
      // who: everyone, from both workers.
      ann.peer.line('/who');
      const who = await ann.peer.waitLine(/^\* #lobby: .*watch/);
      for (const nick of ['ann', 'bob']) assert.ok(who.split(' ').includes(nick), who);
      await stopped(proc, pids);
    },
  );

  it(
    'kill -9 of a worker: the others keep serving, its users leave with worker_lost, a restarted worker serves',
    T,
    async (t) => {
      const { proc, tcp } = await startServe(t, ['chat', '--port', '0', '--workers', '2']);
      const pids = await workerPids(proc, 2);
      const address = parseAddress(tcp, { port: 0 });
      const ann = await textUser(t, proc, address);
      const bob = await userElsewhere(t, proc, address, ann.pid);
      ann.peer.line('/nick ann');
      await bob.peer.waitLine('is now known as ann');

      process.kill(ann.pid, 'SIGKILL');
      await bob.peer.waitLine('* ann left #lobby (worker_lost)');
      const restart = await proc.waitFor((r) => r.event === 'worker_restart', 'worker_restart');
      assert.equal(typeof restart.inMs, 'number');
      const fresh = await proc.waitFor(
        (r) => r.event === 'worker_ready' && !pids.includes(Number(r.workerPid)),
        'the restarted worker ready',
      );
      const freshPid = Number(fresh.workerPid);
      // bob's worker went on meanwhile; the roster lost ann, her nick is free.
      bob.peer.line('/who');
      const who = await bob.peer.waitLine(/^\* #lobby: /);
      assert.ok(!who.split(' ').includes('ann'), who);
      // Users until one lands on the restarted worker: it serves, and takes ann's nick.
      let onFresh: User | undefined;
      for (let i = 0; i < 10 && onFresh === undefined; i++) {
        const u = await textUser(t, proc, address);
        if (u.pid === freshPid) onFresh = u;
      }
      assert.ok(onFresh !== undefined, 'a connection reached the restarted worker');
      onFresh.peer.line('/nick ann');
      await onFresh.peer.waitLine('is now known as ann');
      onFresh.peer.line('back again');
      await bob.peer.waitLine('#lobby <ann> back again');
      assert.equal(proc.records.filter((r) => r.event === 'ready').length, 1, 'still one ready');
      await stopped(proc, [pids.find((p) => p !== ann.pid) ?? 0, freshPid]);
    },
  );

  it(
    'web: browsers on two workers are in one chat (serve web alone, its broker on the hub)',
    T,
    async (t) => {
      const proc = startCli(t, [
        'serve',
        'web',
        '--port',
        '0',
        '--workers',
        '2',
        '--allow-no-origin',
      ]);
      const ready = await proc.waitFor((r) => r.event === 'ready', 'the ready line');
      const pids = await workerPids(proc, 2);
      const services = ready.services as { addresses: string[] }[];
      const url = `ws://${String(services[0]?.addresses[0]).replace(/^http /, '')}/ws`;
      // WebSockets until two landed on different workers (their join is logged by that worker).
      const byPid = new Map<number, { peer: WsPeer; nick: string }>();
      for (let i = 0; byPid.size < 2 && i < 10; i++) {
        const peer = await WsPeer.open(t, url, null);
        const nick = `web${i}`;
        await peer.join('lobby', nick);
        const line = await proc.waitFor(
          (r) => r.event === 'nick' && r.nick === nick,
          `${nick}'s nick line`,
        );
        if (!byPid.has(Number(line.pid))) byPid.set(Number(line.pid), { peer, nick });
      }
      const [a, b] = [...byPid.values()];
      assert.ok(a !== undefined && b !== undefined, 'a browser on each worker');
      a.peer.sendJson({ type: 'say', room: 'lobby', text: 'across workers' });
      const got = await b.peer.event('message', (e) => e.text === 'across workers');
      assert.equal(got.from, a.nick);
      b.peer.sendJson({ type: 'join', room: 'lobby', nick: a.nick, ref: 'dup' });
      const refused = await b.peer.event('error', (e) => e.ref === 'dup');
      assert.equal(refused.code, 'NICK_TAKEN');
      await stopped(proc, pids);
    },
  );

  it('--workers 1 is one process, as without the flag', T, async (t) => {
    const { proc, tcp } = await startServe(t, ['echo', '--port', '0', '--workers', '1']);
    assert.equal(await echoOnce(parseAddress(tcp, { port: 0 }), 'solo'), 'SOLO');
    assert.ok(
      proc.records.every((r) => r.pid === proc.child.pid && r.worker === undefined),
      'every line from the process itself, none from a worker',
    );
    assert.ok(!proc.records.some((r) => r.event === 'workers'));
    await stopped(proc, []);
  });

  it('chat with --cluster: the workers are Redis-bus nodes, no hub', T, async (t) => {
    const redis = await RedisServer.start(t);
    if (redis === undefined) return;
    const { proc, tcp } = await startServe(t, [
      'chat',
      '--port',
      '0',
      '--workers',
      '2',
      '--cluster',
      redis.url(),
    ]);
    const pids = await workerPids(proc, 2);
    const workers = await proc.waitFor((r) => r.event === 'workers', 'the workers line');
    assert.equal(workers.chat, 'redis');
    const address = parseAddress(tcp, { port: 0 });
    const ann = await textUser(t, proc, address);
    const bob = await userElsewhere(t, proc, address, ann.pid);
    ann.peer.line('over redis');
    await bob.peer.waitLine(`#lobby <${ann.nick}> over redis`);
    await stopped(proc, pids);
  });

  it(
    'SIGTERM while the workers are still loading: they stop at once, none is killed',
    T,
    async (t) => {
      const proc = startCli(t, ['serve', 'chat', '--port', '0', '--workers', '2']);
      // The primary logs `workers` just before it forks: the workers are loading their modules.
      await proc.waitFor((r) => r.event === 'workers', 'the workers line');
      proc.kill('SIGTERM');
      const result = await proc.result;
      assert.equal(result.code, 0, `signal ${String(result.signal)}: ${result.stderr}`);
      assert.ok(!proc.records.some((r) => r.event === 'worker_killed'), 'no worker was SIGKILLed');
      assert.ok(!proc.records.some((r) => r.event === 'ready'), 'it never said ready');
    },
  );

  it('the primary killed with SIGKILL: its workers end too', T, async (t) => {
    const { proc } = await startServe(t, ['echo', '--port', '0', '--workers', '2']);
    const pids = await workerPids(proc, 2);
    proc.kill('SIGKILL');
    await proc.result;
    // Not our children: nothing to wait on but their pids (node:cluster ends a worker whose channel closes).
    const deadline = Date.now() + 10_000;
    while (pids.some(alive) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(pids.filter(alive), []);
  });

  it(
    'a worker that cannot start stops the start: its error, its exit code, nothing left',
    T,
    async (t) => {
      const busy = createServer();
      busy.listen(0, '127.0.0.1');
      await once(busy, 'listening');
      t.after(() => busy.close());
      const port = (busy.address() as AddressInfo).port;
      const proc = startCli(t, ['serve', 'echo', '--port', String(port), '--workers', '2']);
      const result = await proc.result;
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /address already in use \(ADDRESS_IN_USE\)/);
      assert.ok(!proc.records.some((r) => r.event === 'ready'), 'no ready line');
      const exited = proc.records.find((r) => r.event === 'worker_exit');
      assert.ok(exited !== undefined);
      const forked = proc.records
        .filter((r) => r.event === 'listening' || r.event === 'server_error')
        .map((r) => Number(r.pid));
      for (const pid of forked) assert.ok(!alive(pid), `worker ${pid} is gone`);
    },
  );

  it(
    'workers that keep dying: restarted with backoff, then the primary gives up, exit 1',
    T,
    async (t) => {
      const { proc } = await startServe(t, ['echo', '--port', '0', '--no-udp', '--workers', '2']);
      let pids = await workerPids(proc, 2);
      // Five rounds of both killed: 10 restarts within 60 s, at 100, 200, 400, 800, 1600 ms.
      for (let round = 1; round <= 5; round++) {
        for (const pid of pids) process.kill(pid, 'SIGKILL');
        const all = await workerPids(proc, 2 * (round + 1));
        pids = all.slice(-2);
      }
      const delays = proc.records
        .filter((r) => r.event === 'worker_restart')
        .map((r) => Number(r.inMs))
        .sort((x, y) => x - y);
      assert.deepEqual(delays, [100, 100, 200, 200, 400, 400, 800, 800, 1600, 1600]);
      process.kill(pids[0] ?? 0, 'SIGKILL'); // the 11th death within the window
      const giveUp = await proc.waitFor((r) => r.event === 'workers_give_up', 'workers_give_up');
      assert.equal(giveUp.restarts, 10);
      const result = await proc.result;
      assert.equal(result.code, 1);
      assert.ok(!alive(pids[1] ?? 0), 'the other worker was stopped');
    },
  );

  it(
    'refuses bad --workers values, a Unix socket and the files service with exit 2',
    T,
    async (t) => {
      const cases: [string[], RegExp][] = [
        [['serve', 'echo', '--workers', '0'], /--workers.*expected a number from 1 to 64/],
        [['serve', 'echo', '--workers', '65'], /--workers.*expected a number from 1 to 64/],
        [['serve', 'echo', '--workers', 'two'], /--workers.*expected a whole number/],
        [
          ['serve', 'echo', '--listen', 'unix:/tmp/sockit-workers.sock', '--workers', '2'],
          /--workers 2 needs host:port.*Unix socket.*\(BAD_OPTION\)/,
        ],
        // Uploads claim their names in one process's memory: two workers could write one file.
        [
          ['serve', 'files', '--port', '0', '--workers', '2'],
          /--workers 2 cannot serve files.*\(BAD_OPTION\)/,
        ],
      ];
      const results = await Promise.all(cases.map(([args]) => runCli(t, args)));
      results.forEach((r, i) => {
        const [args, pattern] = cases[i]!;
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.stdout, '', args.join(' '));
        assert.match(r.stderr, pattern);
      });
    },
  );
});

// The IPC chat bus and its hub (serve --workers, #14) in one process: each
// "worker" is a ChatServer with an IpcChatBus, joined to one ChatHub by an
// in-memory channel that copies every message through JSON and delivers it
// a turn later, in order, as Node's IPC does. test/cli/workers.test.ts runs
// the same with real cluster processes.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it, type TestContext } from 'node:test';
import { ServiceError } from '../../../src/errors.js';
import type { ChatBusHandlers } from '../../../src/services/chat/bus.js';
import type { ChatServerOptions } from '../../../src/services/chat/server.js';
import { ChatHub, IpcChatBus, type IpcEndpoint } from '../../../src/services/chat/internal.js';
import { FramedPeer, startChat, type Event, type StartedChat } from '../../helpers/chat.js';

class End extends EventEmitter implements IpcEndpoint {
  peer: End | undefined;
  connected = true;
  /** What this end sent, for a test to look at. */
  readonly sent: unknown[] = [];

  send(message: unknown, written?: () => void): boolean {
    if (!this.connected) return false;
    this.sent.push(message);
    const copy: unknown = JSON.parse(JSON.stringify(message));
    const peer = this.peer;
    setImmediate(() => {
      peer?.emit('message', copy);
      written?.();
    });
    return true;
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Both ends see 'disconnect', as when a worker process dies. */
  cut(): void {
    for (const end of [this, this.peer]) {
      if (end === undefined) continue;
      end.connected = false;
      setImmediate(() => end.emit('disconnect'));
    }
  }
}

function pair(): [End, End] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

interface Worker extends StartedChat {
  /** The worker's end of its channel to the hub. */
  end: End;
}

async function worker(
  t: TestContext,
  hub: ChatHub,
  id: number,
  options: ChatServerOptions = {},
): Promise<Worker> {
  const [workerEnd, hubEnd] = pair();
  hub.attach(id, hubEnd);
  const chat = await startChat(t, { ...options, bus: new IpcChatBus({ endpoint: workerEnd }) });
  return { ...chat, end: workerEnd };
}

/**
 * A bus on its own channel end, with no chat server behind it; the test
 * plays the hub. Its call timers do not hold the process open (a server
 * does), so this keeps it open until `stop`.
 */
function bareBus(options: { callTimeoutMs: number; maxPendingCalls?: number }): {
  w: End;
  bus: IpcChatBus;
  stop: () => Promise<void>;
} {
  const [w] = pair();
  const handlers: ChatBusHandlers = {
    message: () => undefined,
    private: () => undefined,
    presence: () => undefined,
    nickLost: () => undefined,
    state: () => undefined,
  };
  const keepAlive = setInterval(() => undefined, 1000);
  const bus = new IpcChatBus({ endpoint: w, ...options });
  bus.start(handlers);
  return {
    w,
    bus,
    stop: async () => {
      await bus.close();
      clearInterval(keepAlive);
    },
  };
}

const isUnavailable = (err: unknown): boolean =>
  err instanceof ServiceError && err.code === 'CLUSTER_UNAVAILABLE';

const said = (text: string) => (e: Event) => e.type === 'message' && e.text === text;
const live = (e: Event): boolean => e.type === 'message' && e.history !== true && !('to' in e);

describe('IpcChatBus and ChatHub', () => {
  it('two workers are one chat: one order with the same ids, nicks, rosters, history, msg', async (t) => {
    const hub = new ChatHub();
    const a = await worker(t, hub, 1);
    const b = await worker(t, hub, 2);
    const ann = await FramedPeer.connect(t, a.tcp);
    const bob = await FramedPeer.connect(t, b.tcp);
    await ann.join('dev', 'ann');
    const roster = await bob.join('dev', 'bob');
    assert.deepEqual(roster.nicks, ['ann', 'bob']);
    await ann.wait((e) => e.type === 'joined' && e.nick === 'bob', 'bob joined');
    for (let i = 0; i < 5; i++) {
      ann.send({ type: 'say', room: 'dev', text: `a${i}` });
      bob.send({ type: 'say', room: 'dev', text: `b${i}` });
    }
    const orders = await Promise.all(
      [ann, bob].map(async (p) => {
        await p.wait(said('a4'));
        await p.wait(said('b4'));
        return p.events.items.filter(live).map((e) => `${String(e.id)} ${String(e.text)}`);
      }),
    );
    assert.equal(orders[0]?.length, 10, 'each message once');
    assert.deepEqual(orders[0], orders[1], 'one order, the same ids');

    // One namespace of nicks; msg to whichever worker holds it.
    const other = await FramedPeer.connect(t, b.tcp);
    other.send({ type: 'nick', nick: 'ANN', ref: 'n' });
    const refused = await other.wait((e) => e.ref === 'n');
    assert.equal(refused.code, 'NICK_TAKEN');
    bob.send({ type: 'msg', to: 'ann', text: 'psst' });
    const got = await ann.wait((e) => e.type === 'message' && e.to === 'ann');
    assert.equal(got.from, 'bob');

    // History on join comes from the hub, whichever worker asks.
    const late = await FramedPeer.connect(t, a.tcp);
    await late.join('dev', 'late');
    await late.wait((e) => e.history === true && e.text === 'b4', 'the history');
    const history = late.events.items.filter((e) => e.history === true).map((e) => e.text);
    assert.equal(history.length, 10);
    assert.deepEqual(hub.roster('dev'), ['ann', 'bob', 'late']);
  });

  it('a lost worker: its users leave with worker_lost, their nicks are free', async (t) => {
    const hub = new ChatHub();
    const a = await worker(t, hub, 1);
    const b = await worker(t, hub, 2);
    const ann = await FramedPeer.connect(t, a.tcp);
    const bob = await FramedPeer.connect(t, b.tcp);
    await ann.join('dev', 'ann');
    await ann.join('ops');
    await bob.join('dev', 'bob');
    a.end.cut();
    const left = await bob.wait((e) => e.type === 'left' && e.nick === 'ann', 'ann left');
    assert.equal(left.reason, 'worker_lost');
    assert.equal(hub.stats.lost, 2, 'both her rooms');
    assert.deepEqual(hub.roster('dev'), ['bob']);
    assert.deepEqual(hub.roster('ops'), []);
    const again = await FramedPeer.connect(t, b.tcp);
    again.send({ type: 'nick', nick: 'ann', ref: 'n' });
    assert.equal((await again.wait((e) => e.ref === 'n')).type, 'nick');
    // The cut-off worker's own clients are told the hub is gone, and are refused.
    await ann.wait((e) => e.code === 'CLUSTER_UNAVAILABLE', 'the hub is gone');
    ann.send({ type: 'say', room: 'dev', text: 'anyone?', ref: 's' });
    assert.equal((await ann.wait((e) => e.ref === 's')).code, 'CLUSTER_UNAVAILABLE');
  });

  it('a worker that stops reading is let go and killed; the others chat on', async (t) => {
    const hub = new ChatHub({ maxQueuedBytes: 1024 * 1024 });
    const a = await worker(t, hub, 1, { rateLimit: false }); // ann floods on purpose
    const ann = await FramedPeer.connect(t, a.tcp);
    await ann.join('dev', 'ann');
    // A real process on a real IPC channel, as node:cluster gives the primary.
    const child = fork(fileURLToPath(new URL('../../helpers/stuck-worker.mjs', import.meta.url)));
    const exited = once(child, 'exit');
    t.after(() => child.kill('SIGKILL'));
    hub.attach(2, {
      send: (message, written) =>
        child.send(message as object, undefined, undefined, () => written?.()),
      on: (event: string, listener: (message: unknown) => void) => child.on(event, listener),
      off: (event: string, listener: (message: unknown) => void) => child.off(event, listener),
      isConnected: () => child.connected,
      kill: () => child.kill('SIGKILL'),
    });
    await ann.wait((e) => e.type === 'joined' && e.nick === 'zed', 'zed joined');
    // 2 MiB for zed's worker to read, twice the bound: the hub gives up on it.
    const text = 'x'.repeat(2000);
    for (let i = 0; i < 1000; i++) ann.send({ type: 'say', room: 'dev', text });
    const left = await ann.wait((e) => e.type === 'left' && e.nick === 'zed', 'zed left');
    assert.equal(left.reason, 'worker_lost');
    assert.equal(hub.stats.stuck, 1);
    assert.deepEqual(await exited, [null, 'SIGKILL']);
    assert.deepEqual(hub.roster('dev'), ['ann']);
    ann.send({ type: 'say', room: 'dev', text: 'still here', ref: 's' });
    await ann.wait(said('still here'));
  });

  it('the hub drops what does not parse, and leaves other IPC alone', async () => {
    const hub = new ChatHub();
    const [w, h] = pair();
    hub.attach(1, h);
    w.send({ ch: 'serve', kind: 'ready', services: [] }); // the CLI's, not the hub's
    w.send({ ch: 'chat', kind: 'publish', id: 1 }); // no message
    w.send({ ch: 'chat', kind: 'acquire', id: 2, nick: 'x'.repeat(1000) }); // too long
    w.send({ ch: 'chat', kind: 'acquire', id: 3, nick: 'ok' });
    await new Promise<void>((resolve) => {
      w.on('message', () => {
        resolve();
      });
    });
    assert.equal(hub.stats.malformed, 2);
    assert.deepEqual(h.sent, [{ ch: 'chat', kind: 'reply', id: 3, value: true }]);
    hub.close();
  });

  it('a call the hub does not answer, or one past the bound, is CLUSTER_UNAVAILABLE', async () => {
    const { w, bus, stop } = bareBus({ callTimeoutMs: 30, maxPendingCalls: 1 }); // nobody answers
    const first = bus.acquireNick('ann');
    await assert.rejects(bus.roster('dev'), isUnavailable, 'past maxPendingCalls');
    await assert.rejects(first, isUnavailable, 'timed out');
    assert.equal(bus.stats.timeouts, 1);
    // The hub may still act on a call we gave up on: the bus takes it back, in order.
    const kinds = (): unknown[] =>
      w.sent.map((m) => {
        const { kind, nick, room } = m as { kind: string; nick?: string; room?: string };
        return [kind, nick, room];
      });
    assert.deepEqual(kinds().slice(-1), [['release', 'ann', undefined]]);
    await assert.rejects(bus.join('dev', 'ann', 1), isUnavailable);
    assert.deepEqual(kinds().slice(-2), [
      ['join', 'ann', 'dev'],
      ['leave', 'ann', 'dev'],
    ]);
    // A malformed answer rejects its call rather than resolving with it.
    const third = bus.acquireNick('bob');
    const thirdId = (w.sent.at(-1) as { id: number }).id;
    w.emit('message', { ch: 'chat', kind: 'reply', id: thirdId, value: 'yes' });
    await assert.rejects(third, isUnavailable);
    assert.equal(bus.stats.malformed, 1);
    // A refusal that is not a timeout takes nothing back.
    const sentBefore = w.sent.length;
    const fourth = bus.acquireNick('cy');
    const id = (w.sent.at(-1) as { id: number }).id;
    w.emit('message', { ch: 'chat', kind: 'fail', id, code: 'NICK_TAKEN', message: 'taken' });
    await assert.rejects(fourth, (err: unknown) => (err as ServiceError).code === 'NICK_TAKEN');
    assert.equal(w.sent.length, sentBefore + 1, 'no release after a refusal');
    await stop();
  });

  it('a timed-out acquire takes the nick back only if no other acquire of it was granted', async () => {
    const { w, bus, stop } = bareBus({ callTimeoutMs: 30 }); // the test answers for the hub
    const releases = (nick: string): number =>
      w.sent.filter(
        (m) =>
          (m as { kind: string; nick?: string }).kind === 'release' &&
          (m as { nick?: string }).nick === nick,
      ).length;
    // Two sessions ask for one nick; the first gives up while the second still waits,
    // and the hub grants the second: a release now would free the nick it was given.
    const early = bus.acquireNick('dee');
    const earlyId = (w.sent.at(-1) as { id: number }).id;
    const later = bus.acquireNick('dee');
    const laterId = (w.sent.at(-1) as { id: number }).id;
    await assert.rejects(early, isUnavailable);
    w.emit('message', { ch: 'chat', kind: 'reply', id: earlyId, value: true }); // too late
    w.emit('message', { ch: 'chat', kind: 'reply', id: laterId, value: true });
    assert.equal(await later, true);
    assert.equal(releases('dee'), 0, 'not released');
    // Both give up, none granted: taken back once, after the last.
    const one = bus.acquireNick('eve');
    const two = bus.acquireNick('eve');
    await assert.rejects(one, isUnavailable);
    assert.equal(releases('eve'), 0, 'not while the second is on its way');
    await assert.rejects(two, isUnavailable);
    assert.equal(releases('eve'), 1);
    await stop();
  });
});

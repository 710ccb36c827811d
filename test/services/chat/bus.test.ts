import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ChatServer,
  FrameDecoder,
  LocalChatBus,
  ServiceError,
  type BusPrivateMessage,
  type BusRoomMessage,
  type ChatBus,
  type ChatBusHandlers,
  type ChatConnection,
  type CloseInfo,
  type ConnectionHandlers,
  type SockitError,
} from '../../../src/index.js';
import { MAX_PENDING_SAYS } from '../../../src/services/chat/internal.js';
import { FramedPeer, TextPeer, startChat, type Event } from '../../helpers/chat.js';
import { frame } from '../../helpers/net.js';

const T = { timeout: 15_000 };

/** The next turn of the event loop: a remote bus's answer is never synchronous. */
const later = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A bus that answers asynchronously, as a remote one does, and can be "cut
 * off": the in-process bus behind a turn of latency, refusing with
 * CLUSTER_UNAVAILABLE while `down`.
 */
class AsyncBus implements ChatBus {
  down = false;
  handlers: ChatBusHandlers | undefined;
  private readonly inner = new LocalChatBus();

  async start(handlers: ChatBusHandlers): Promise<void> {
    this.handlers = handlers;
    await later();
    this.inner.start(handlers);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  private async remote<T>(call: () => T): Promise<T> {
    await later();
    if (this.down) throw new ServiceError('CLUSTER_UNAVAILABLE', 'bus is down');
    return call();
  }
  publish(message: Omit<BusRoomMessage, 'id'>): Promise<number> {
    return this.remote(() => this.inner.publish(message));
  }
  sendPrivate(message: Omit<BusPrivateMessage, 'id'>): Promise<BusPrivateMessage> {
    return this.remote(() => this.inner.sendPrivate(message));
  }
  acquireNick(nick: string): Promise<boolean> {
    return this.remote(() => this.inner.acquireNick(nick));
  }
  releaseNick(nick: string): void {
    this.inner.releaseNick(nick);
  }
  join(room: string, nick: string): Promise<void> {
    return this.remote(() => {
      this.inner.join(room, nick);
    });
  }
  leave(room: string, nick: string): void {
    this.inner.leave(room, nick);
  }
  renamed(old: string, nick: string, rooms: readonly string[]): void {
    this.inner.renamed(old, nick, rooms);
  }
  roster(room: string): Promise<string[]> {
    return this.remote(() => this.inner.roster(room));
  }
  history(room: string, limit: number): Promise<BusRoomMessage[]> {
    return this.remote(() => this.inner.history(room, limit));
  }
}

/** An asynchronous bus that can hold publishes until the test releases them (in order). */
class HoldingBus extends AsyncBus {
  holding = false;
  readonly held: (() => void)[] = [];
  private waiter: { n: number; resolve: () => void } | undefined;

  override publish(message: Omit<BusRoomMessage, 'id'>): Promise<number> {
    if (!this.holding) return super.publish(message);
    return new Promise((resolve, reject) => {
      this.held.push(() => {
        super.publish(message).then(resolve, reject);
      });
      if (this.waiter && this.held.length >= this.waiter.n) this.waiter.resolve();
    });
  }

  heldReaches(n: number): Promise<void> {
    if (this.held.length >= n) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = { n, resolve };
    });
  }

  releaseAll(): void {
    for (const release of this.held.splice(0)) release();
  }
}

describe('chat over an asynchronous bus', () => {
  it('each client’s requests take effect in order while the bus answers later', T, async (t) => {
    const bus = new AsyncBus();
    const { tcp } = await startChat(t, { bus });
    const ann = await FramedPeer.connect(t, tcp);
    const bob = await FramedPeer.connect(t, tcp);
    await bob.join('dev', 'bob');
    // One write: a rename, a join, twenty messages. Each waits for the one before.
    ann.socket.write(
      Buffer.concat([
        frame(JSON.stringify({ type: 'nick', nick: 'ann' })),
        frame(JSON.stringify({ type: 'join', room: 'dev' })),
        ...Array.from({ length: 20 }, (_, i) =>
          frame(JSON.stringify({ type: 'say', room: 'dev', text: `m${i}` })),
        ),
      ]),
    );
    await bob.wait((e) => e.type === 'message' && e.text === 'm19');
    const seen = bob.events.items.filter((e) => e.type === 'message').map((e) => e.text);
    assert.deepEqual(
      seen,
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    const joined = bob.events.items.find(
      (e) => e.type === 'joined' && e.room === 'dev' && e.nick !== 'bob',
    );
    assert.equal(joined?.nick, 'ann', 'the rename took effect before the join');

    // A text user's hello (guest nick, lobby) also waits for the bus.
    const nc = await TextPeer.connect(t, tcp);
    nc.line('/join dev');
    await nc.waitLine(/^\* #dev: bob ann guest\d+$/);
  });

  it(
    'a message the bus refuses is an error to its sender, never delivered; sending again works',
    T,
    async (t) => {
      const bus = new AsyncBus();
      const { tcp } = await startChat(t, { bus });
      const ann = await FramedPeer.connect(t, tcp);
      const bob = await FramedPeer.connect(t, tcp);
      await ann.join('dev', 'ann');
      await bob.join('dev', 'bob');
      const nc = await TextPeer.connect(t, tcp);
      nc.line('/who');
      await nc.waitLine('* #lobby:');

      bus.down = true;
      bus.handlers?.state('down');
      const told = await bob.wait((e) => e.type === 'error' && e.code === 'CLUSTER_UNAVAILABLE');
      assert.match(told.message as string, /unreachable/);
      await nc.waitLine('error CLUSTER_UNAVAILABLE:');
      ann.send({ type: 'say', room: 'dev', text: 'lost?', ref: 'r1' });
      const refused = await ann.wait((e) => e.type === 'error' && e.ref === 'r1');
      assert.equal(refused.code, 'CLUSTER_UNAVAILABLE');
      nc.line('hello?');
      await nc.waitLine('error CLUSTER_UNAVAILABLE: bus is down');

      bus.down = false;
      bus.handlers?.state('up');
      await nc.waitLine('* the chat cluster is back');
      ann.send({ type: 'say', room: 'dev', text: 'again' });
      await bob.wait((e) => e.type === 'message' && e.text === 'again');
      assert.ok(!bob.events.items.some((e) => e.text === 'lost?'));
    },
  );

  it(
    'a sender’s messages are pipelined to a remote bus, at most MAX_PENDING_SAYS at once, in order',
    T,
    async (t) => {
      const bus = new HoldingBus();
      const { tcp } = await startChat(t, { bus, rateLimit: { ratePerSec: 1e6, burst: 1e6 } });
      const ann = await FramedPeer.connect(t, tcp);
      const bob = await FramedPeer.connect(t, tcp);
      await ann.join('dev', 'ann');
      await bob.join('dev', 'bob');
      bus.holding = true;
      const total = MAX_PENDING_SAYS + 36;
      ann.socket.write(
        Buffer.concat(
          Array.from({ length: total }, (_, i) =>
            frame(JSON.stringify({ type: 'say', room: 'dev', text: `m${i}` })),
          ),
        ),
      );
      // Without pipelining one would be out, waiting for its round trip.
      await bus.heldReaches(MAX_PENDING_SAYS);
      for (let i = 0; i < 20; i++) await later();
      assert.equal(bus.held.length, MAX_PENDING_SAYS, 'the rest of the input waits');
      bus.holding = false;
      bus.releaseAll();
      await bob.wait((e) => e.type === 'message' && e.text === `m${total - 1}`);
      assert.deepEqual(
        bob.events.items.filter((e) => e.type === 'message').map((e) => e.text),
        Array.from({ length: total }, (_, i) => `m${i}`),
        'every message once, in send order',
      );
    },
  );

  it(
    'a say followed by a quit or the end of input is settled first: its echo or refusal reaches its sender',
    T,
    async (t) => {
      const bus = new AsyncBus();
      const { tcp } = await startChat(t, { bus });
      const ann = await FramedPeer.connect(t, tcp);
      const bob = await FramedPeer.connect(t, tcp);
      await ann.join('dev', 'ann');
      await bob.join('dev', 'bob');
      // Up: a say and a quit in one write; ann hears her message before she is gone.
      ann.socket.write(
        Buffer.concat([
          frame(JSON.stringify({ type: 'say', room: 'dev', text: 'last words' })),
          frame(JSON.stringify({ type: 'quit' })),
        ]),
      );
      await bob.wait((e) => e.type === 'left' && e.nick === 'ann');
      assert.ok(
        ann.events.items.some((e) => e.type === 'message' && e.text === 'last words'),
        'the say took effect before the quit',
      );
      const left = bob.events.items.findIndex((e) => e.type === 'left' && e.nick === 'ann');
      const said = bob.events.items.findIndex(
        (e) => e.type === 'message' && e.text === 'last words',
      );
      assert.ok(said >= 0 && said < left, 'others too: the message, then the leave');
      // Down: a say, then FIN; the refusal still reaches the sender.
      const cy = await FramedPeer.connect(t, tcp);
      await cy.join('dev', 'cy');
      bus.down = true;
      cy.socket.end(frame(JSON.stringify({ type: 'say', room: 'dev', text: 'lost', ref: 'r1' })));
      const refused = await cy.wait((e) => e.type === 'error' && e.ref === 'r1');
      assert.equal(refused.code, 'CLUSTER_UNAVAILABLE');
    },
  );

  it('a client that cannot get a nick while the bus is down is told and closed', T, async (t) => {
    const bus = new AsyncBus();
    const { tcp, server } = await startChat(t, { bus });
    bus.down = true;
    const nc = await TextPeer.connect(t, tcp);
    nc.line('hello');
    await nc.waitLine('error CLUSTER_UNAVAILABLE: bus is down');
    await nc.lines.wait(() => false, 'the close').catch(() => undefined);
    const framed = await FramedPeer.connect(t, tcp);
    framed.send({ type: 'who' });
    const error = await framed.wait((e) => e.type === 'error');
    assert.equal(error.code, 'CLUSTER_UNAVAILABLE');
    assert.deepEqual(server.nicks, []);
  });

  it('a nick lost to another node ends its local holder with NICK_TAKEN', T, async (t) => {
    const bus = new AsyncBus();
    const { tcp, server } = await startChat(t, { bus });
    const ann = await FramedPeer.connect(t, tcp);
    const watcher = await FramedPeer.connect(t, tcp);
    await ann.join('dev', 'ann');
    await watcher.join('dev', 'watcher');
    bus.handlers?.nickLost('ANN');
    const notice = await ann.wait((e) => e.type === 'error');
    assert.equal(notice.code, 'NICK_TAKEN');
    const left = await watcher.wait((e) => e.type === 'left' && e.nick === 'ann');
    assert.equal(left.reason, 'NICK_TAKEN');
    assert.deepEqual(server.roster('dev'), ['watcher']);
  });
});

/**
 * A transport that is not a socket: one write is one envelope frame, as a
 * WebSocket gateway carries it. `pendingWrite` is settable to play a reader
 * that has stopped reading.
 */
class MessageTransport implements ChatConnection {
  private static next = 1_000_000;
  readonly id = MessageTransport.next++;
  readonly events: Event[] = [];
  pendingWrite = 0;
  closedWith: SockitError | undefined | null = null;
  paused = false;
  private handlers: ConnectionHandlers | undefined;
  private readonly decoder = new FrameDecoder((payload) => {
    this.events.push(JSON.parse(payload.toString()) as Event);
    this.onEvent?.();
  });
  onEvent: (() => void) | undefined;

  start(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
  }
  write(data: Uint8Array): boolean {
    this.decoder.push(Buffer.from(data));
    return true;
  }
  end(data?: Uint8Array): void {
    if (data !== undefined) this.write(data);
    this.close(undefined);
  }
  destroy(error?: SockitError): void {
    this.close(error);
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  send(request: Record<string, unknown>): void {
    this.handlers?.data(frame(JSON.stringify(request)));
  }
  wait(match: (e: Event) => boolean): Promise<Event> {
    return new Promise((resolve) => {
      const check = (): void => {
        const found = this.events.find(match);
        if (found !== undefined) resolve(found);
      };
      this.onEvent = check;
      check();
    });
  }
  private close(error: SockitError | undefined): void {
    if (this.closedWith !== null) return;
    this.closedWith = error;
    const info: CloseInfo = { error, bytesRead: 0, bytesWritten: 0, durationMs: 0 };
    // As a socket does, the close is reported in a later turn.
    setImmediate(() => this.handlers?.close?.(info));
  }
}

describe('ChatServer.attach: any transport', () => {
  it('a message transport shares rooms with TCP users, bounds and all', T, async (t) => {
    const { server, tcp } = await startChat(t, { maxQueue: 4096 });
    const web = new MessageTransport();
    server.attach(web, { framing: 'u32be' });
    const welcome = await web.wait((e) => e.type === 'welcome');
    assert.match(welcome.nick as string, /^guest\d+$/);

    const nc = await TextPeer.connect(t, tcp);
    nc.line('hi from nc');
    const nick = /welcome, (guest\d+)/.exec(await nc.waitLine('* welcome'))?.[1];
    web.send({ type: 'join', room: 'lobby', nick: 'web' });
    await nc.waitLine('* web joined #lobby');
    const past = await web.wait((e) => e.type === 'message' && e.history === true);
    assert.equal(past.text, 'hi from nc');
    web.send({ type: 'say', text: 'hi from the web' });
    await nc.waitLine('#lobby <web> hi from the web');
    nc.line('back');
    await web.wait((e) => e.type === 'message' && e.text === 'back');

    // A reader that stopped reading is cut off like a TCP one; the room carries on.
    web.pendingWrite = 4096;
    nc.line('overflow');
    await nc.waitLine('* web left #lobby (SLOW_CONSUMER)');
    assert.equal(web.closedWith, undefined, 'ended with its notice, before the grace ran out');
    assert.equal(web.events.at(-1)?.code, 'SLOW_CONSUMER');
    assert.deepEqual(server.roster('lobby'), [nick]);
  });

  it('closing the server closes attached transports with SHUTTING_DOWN', T, async () => {
    const server = new ChatServer();
    const web = new MessageTransport();
    server.attach(web, { framing: 'u32be' });
    await web.wait((e) => e.type === 'welcome');
    await server.close();
    assert.equal(web.closedWith?.code, 'SHUTTING_DOWN');
  });
});

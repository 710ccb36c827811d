import type { Socket } from 'node:net';
import type { TestContext } from 'node:test';
import {
  ChatServer,
  FrameDecoder,
  RedisChatBus,
  type Address,
  type ChatServerOptions,
} from '../../src/index.js';
import { silentLogger } from '../../src/log.js';
import { RedisServer } from './redis.js';
import { LOOPBACK, frame, rawConnect } from './net.js';

export interface StartedChat {
  server: ChatServer;
  tcp: Address;
}

/**
 * A ChatServer on 127.0.0.1 (any free port), closed in teardown. Under
 * SOCKIT_TEST_CHAT_BUS=redis (the second pass of `npm test`) a server given
 * no bus gets a RedisChatBus on a redis-server of its own: the same tests,
 * one node of a cluster (issue #14: nothing changes with --cluster).
 */
export async function startChat(
  t: TestContext,
  options: ChatServerOptions = {},
): Promise<StartedChat> {
  if (options.bus === undefined && process.env.SOCKIT_TEST_CHAT_BUS === 'redis') {
    const redis = await RedisServer.start(t);
    if (redis !== undefined) {
      options = {
        ...options,
        bus: new RedisChatBus({ url: redis.url(), logger: options.logger ?? silentLogger }),
      };
    }
  }
  const server = new ChatServer(options);
  t.after(() => server.close(0));
  const tcp = await server.listen(LOOPBACK);
  return { server, tcp };
}

type Waiter<T> = { match: (item: T) => boolean; resolve: (item: T) => void };

/** Collects items and lets a test wait for one that matches (no polling). */
class Inbox<T> {
  readonly items: T[] = [];
  private waiters: Waiter<T>[] = [];
  private closedWith: Error | undefined;

  push(item: T): void {
    this.items.push(item);
    const still: Waiter<T>[] = [];
    for (const w of this.waiters) {
      if (w.match(item)) w.resolve(item);
      else still.push(w);
    }
    this.waiters = still;
  }

  close(why: string): void {
    this.closedWith = new Error(why);
    for (const w of this.waiters) w.resolve(undefined as unknown as T);
    this.waiters = [];
  }

  wait(match: (item: T) => boolean, what: string): Promise<T> {
    const seen = this.items.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.closedWith)
      return Promise.reject(new Error(`${this.closedWith.message} before ${what}`));
    return new Promise((resolve, reject) => {
      this.waiters.push({
        match,
        resolve: (item) => {
          if (item === undefined) reject(new Error(`connection closed before ${what}`));
          else resolve(item);
        },
      });
    });
  }
}

/** A plain-text client, as `nc` would be: lines out, lines in. */
export class TextPeer {
  readonly lines = new Inbox<string>();
  private partial = '';

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.partial += text;
      let nl: number;
      while ((nl = this.partial.indexOf('\n')) !== -1) {
        this.lines.push(this.partial.slice(0, nl));
        this.partial = this.partial.slice(nl + 1);
      }
    });
    socket.on('close', () => {
      if (this.partial !== '') this.lines.push(this.partial);
      this.lines.close('connection closed');
    });
  }

  static async connect(t: TestContext, address: Address): Promise<TextPeer> {
    const socket = await rawConnect(address);
    t.after(() => socket.destroy());
    return new TextPeer(socket);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  line(text: string): void {
    this.socket.write(`${text}\n`);
  }

  waitLine(match: string | RegExp | ((l: string) => boolean)): Promise<string> {
    const fn =
      typeof match === 'string'
        ? (l: string) => l.includes(match)
        : match instanceof RegExp
          ? (l: string) => match.test(l)
          : match;
    return this.lines.wait(fn, `a line matching ${String(match)}`);
  }
}

export type Event = Record<string, unknown> & { type: string };

/** An envelope client on a raw socket: u32be JSON frames out, events in. */
export class FramedPeer {
  readonly events = new Inbox<Event>();

  private constructor(readonly socket: Socket) {
    const decoder = new FrameDecoder((payload) => {
      this.events.push(JSON.parse(payload.toString()) as Event);
    });
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
    });
    socket.on('close', () => {
      this.events.close('connection closed');
    });
  }

  static async connect(t: TestContext, address: Address): Promise<FramedPeer> {
    const socket = await rawConnect(address);
    t.after(() => socket.destroy());
    return new FramedPeer(socket);
  }

  send(request: Record<string, unknown>): void {
    this.socket.write(frame(JSON.stringify(request)));
  }

  wait(match: (e: Event) => boolean, what = 'an event'): Promise<Event> {
    return this.events.wait(match, what);
  }

  /** Joins `room` as `nick` and waits for the roster. */
  async join(room: string, nick?: string): Promise<Event> {
    this.send(nick !== undefined ? { type: 'join', room, nick } : { type: 'join', room });
    return this.wait((e) => e.type === 'roster' && e.room === room, `the roster of ${room}`);
  }
}

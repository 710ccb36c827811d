import { once } from 'node:events';
import type { TestContext } from 'node:test';
import WebSocket from 'ws';
import { WebGateway, type Address, type WebGatewayOptions } from '../../src/index.js';
import { LOOPBACK } from './net.js';

export interface StartedGateway {
  gateway: WebGateway;
  address: Address;
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  origin: string;
  /** `ws://127.0.0.1:PORT`. */
  wsBase: string;
}

/** A WebGateway on 127.0.0.1 (any free port), closed in teardown. */
export async function startGateway(
  t: TestContext,
  options: WebGatewayOptions = {},
  where: Address = LOOPBACK,
): Promise<StartedGateway> {
  const gateway = new WebGateway(options);
  t.after(() => gateway.close(0));
  const address = await gateway.listen(where);
  const origin = gateway.url.replace(/\/$/, '');
  return { gateway, address, origin, wsBase: origin.replace(/^http/, 'ws') };
}

export interface WsMessage {
  data: Buffer;
  binary: boolean;
}

/** A `ws` client that keeps what it receives and lets a test wait for it (no polling). */
export class WsPeer {
  readonly messages: WsMessage[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private waiters: { match: (m: WsMessage) => boolean; resolve: (m: WsMessage) => void }[] = [];
  private readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, binary: boolean) => {
      const m = { data, binary };
      this.messages.push(m);
      const still = [];
      for (const w of this.waiters) {
        if (w.match(m)) w.resolve(m);
        else still.push(w);
      }
      this.waiters = still;
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve();
      });
    });
    ws.on('error', () => undefined);
  }

  /** Opens a WebSocket (with `origin` as its Origin header unless null); rejects with the HTTP status. */
  static async open(
    t: TestContext,
    url: string,
    origin: string | null,
    options: WebSocket.ClientOptions = {},
  ): Promise<WsPeer> {
    const ws = new WebSocket(url, { ...(origin !== null ? { origin } : {}), ...options });
    t.after(() => ws.terminate());
    const peer = new WsPeer(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        reject(new HttpRefusal(res.statusCode ?? 0));
        res.resume();
        ws.terminate();
      });
      ws.once('error', reject);
    });
    return peer;
  }

  sendJson(request: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(request));
  }

  /** The next message (from now on) that matches. */
  wait(match: (m: WsMessage) => boolean): Promise<WsMessage> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** Waits for a JSON event with this type (and matching the rest). */
  async event(
    type: string,
    match: (e: Record<string, unknown>) => boolean = () => true,
  ): Promise<Record<string, unknown>> {
    const m = await this.wait((m) => {
      if (m.binary) return false;
      const e = JSON.parse(m.data.toString()) as Record<string, unknown>;
      return e.type === type && match(e);
    });
    return JSON.parse(m.data.toString()) as Record<string, unknown>;
  }

  /** Every JSON event received so far. */
  events(): Record<string, unknown>[] {
    return this.messages
      .filter((m) => !m.binary)
      .map((m) => JSON.parse(m.data.toString()) as Record<string, unknown>);
  }

  async join(room: string, nick: string): Promise<Record<string, unknown>> {
    this.sendJson({ type: 'join', room, nick });
    return this.event('roster', (e) => e.room === room);
  }

  whenClosed(): Promise<void> {
    return this.closed;
  }
}

export class HttpRefusal extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

/** Resolves once the socket under `ws` has no more output queued. */
export async function drained(ws: WebSocket): Promise<void> {
  const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
  if (socket.writableLength > 0) await once(socket, 'drain');
}

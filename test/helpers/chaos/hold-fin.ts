import { once } from 'node:events';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import type { Address } from '../../../src/index.js';

/**
 * A fault-free TCP relay placed in front of a ChaosTcpProxy for clients that
 * half-close first (RFC 868: the client sends its FIN at once, then reads).
 * ChaosTcpProxy destroys the client side as soon as the upstream socket has
 * closed, even while the down pipe still holds delayed or stalled bytes
 * (tcp-proxy.ts, the 'close' handler in accept()), so such a client loses
 * its reply under latency. This relay holds the client's FIN until the
 * other side has sent its own, and passes a reset on as a reset.
 */
export class HoldFinRelay {
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: ReturnType<typeof createServer>) {}

  static async start(t: TestContext, target: Address): Promise<HoldFinRelay> {
    if (target.kind !== 'inet') throw new Error('HoldFinRelay needs an inet target');
    const server = createServer({ allowHalfOpen: true });
    const relay = new HoldFinRelay(server);
    server.on('connection', (client) => {
      relay.accept(client, target.host, target.port);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      relay.close();
    });
    return relay;
  }

  get address(): Address {
    const info = this.server.address();
    if (info === null || typeof info !== 'object') throw new Error('relay not listening');
    return { kind: 'inet', host: '127.0.0.1', port: info.port };
  }

  close(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }

  private accept(client: Socket, host: string, port: number): void {
    const upstream = netConnect({ host, port, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => this.sockets.delete(s));
    }
    client.pipe(upstream, { end: false });
    upstream.pipe(client, { end: false });
    let clientEnded = false;
    client.once('end', () => {
      clientEnded = true; // held until the other side has said all it will
    });
    upstream.once('end', () => {
      client.end();
      if (clientEnded) upstream.end();
    });
    client.once('close', () => {
      if (!upstream.destroyed) upstream.destroy();
    });
    upstream.once('close', () => {
      // After an orderly end the client closes by itself, once what was queued is flushed.
      if (!client.destroyed && !client.writableEnded) client.destroy();
    });
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      a.once('error', () => {
        if (!b.destroyed) b.resetAndDestroy();
      });
    }
  }
}

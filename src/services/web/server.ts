import { UsageError } from '../../errors.js';
import type { Address } from '../../transport/address.js';
import type { TlsClientConfig, TlsServerConfig } from '../../transport/tls.js';
import type { Logger } from '../../log.js';
import type { ChatServer } from '../chat/index.js';
import type { Gateway } from './gateway.js';
import type { BridgeRoute } from './messages.js';
import type { Service } from '../common/service.js';

/** Options of {@link WebGateway}: the chat broker, bridges, Origin rules, limits, TLS. */
export interface WebGatewayOptions {
  /**
   * The chat broker behind `/ws`: a ChatServer in this process (each
   * browser is attached to it as a client, no socket in between), or the
   * address of a remote one (`--chat HOST:PORT`, framed envelopes over TCP).
   * Without it `/ws` is 404.
   */
  chat?: ChatServer | Address;
  /** Reach the broker over TLS (a broker started with --tls). */
  chatTls?: TlsClientConfig;
  /** `--bridge /PATH=HOST:PORT`: the only other targets a WebSocket can reach. */
  bridges?: readonly BridgeRoute[];
  /** Origins allowed besides the page's own (`https://chat.example.org`). */
  allowOrigins?: readonly string[];
  /** Let a handshake without `Origin` (a non-browser client) through. @default false */
  allowNoOrigin?: boolean;
  /** HTTPS and wss on the one port. */
  tls?: TlsServerConfig;
  /** WebSocket connections at once; the next handshake gets 503. @default 10 000 */
  maxConnections?: number;
  /** Largest chat message (one envelope header, bytes). @default 64 KiB */
  maxChatMessage?: number;
  /** Largest bridge message and frame (bytes). @default 16 MiB */
  maxFrame?: number;
  /** Bytes queued for a chat browser before SLOW_CONSUMER. @default 1 MiB */
  maxQueue?: number;
  /** A bridge pauses its target while this many bytes wait for the browser. @default 1 MiB */
  bridgeHighWater?: number;
  /** Ping every this often; a WebSocket silent for two is dropped (ms); 0: never. @default 30 000 */
  heartbeatMs?: number;
  /** How long a closing peer gets before it is destroyed (ms). @default 2 000 */
  noticeGraceMs?: number;
  /** How long connecting to a target may take (ms). @default 10 000 */
  connectTimeoutMs?: number;
  /** A graceful close waits this long (ms). @default 5 000 */
  shutdownGraceMs?: number;
  logger?: Logger;
}

/** Counters of a {@link WebGateway}: refused origins, busy, unreachable targets, cut-offs. */
export interface WebGatewayStats {
  /** WebSocket handshakes refused for their Origin. */
  originRefused: number;
  /** Handshakes refused at the connection limit. */
  busy: number;
  /** Handshakes whose target could not be reached. */
  targetUnreachable: number;
  /** Links cut off (SLOW_CONSUMER, PING_TIMEOUT). */
  cutOff: number;
}

/**
 * The web gateway (SPEC §2.7): one HTTP(S) server with the chat page at `/`,
 * WebSockets into the chat rooms at `/ws`, and bridges from named paths to
 * framed TCP services. One WebSocket message is one sockit message.
 *
 * The implementation (gateway.ts, with node:http and ws) is loaded by
 * listen(): a process that never serves the web does not pay for it in heap
 * (test/index-heap.test.ts).
 * @example
 * ```ts
 * import { ChatServer, WebGateway } from 'sockit';
 *
 * // The chat page at / and WebSockets at /ws, in the same rooms as TCP users.
 * const chat = new ChatServer();
 * await chat.listen({ kind: 'inet', host: '127.0.0.1', port: 7194 });
 * const web = new WebGateway({ chat });
 * await web.listen({ kind: 'inet', host: '127.0.0.1', port: 7080 });
 * console.log(web.url); // http://127.0.0.1:7080/
 * ```
 */
export class WebGateway implements Service {
  readonly name = 'web';
  readonly stats: WebGatewayStats = { originRefused: 0, busy: 0, targetUnreachable: 0, cutOff: 0 };
  private running: Gateway | undefined;
  private closed = false;

  constructor(private readonly options: WebGatewayOptions = {}) {}

  async listen(address: Address): Promise<Address> {
    if (this.running) throw new UsageError('INVALID_STATE', 'gateway is already listening');
    const { Gateway } = await import('./gateway.js');
    this.running = new Gateway(this.options, this.stats);
    return this.running.listen(address);
  }

  /** `http 127.0.0.1:7080` (or https), as `sockit serve` reports it. */
  get addresses(): string[] {
    return this.running?.addresses ?? [];
  }

  /** The page's URL, e.g. `http://127.0.0.1:7080/`. */
  get url(): string {
    if (!this.running) throw new UsageError('INVALID_STATE', 'gateway is not listening');
    return this.running.url;
  }

  /** WebSockets open now. */
  get connections(): number {
    return this.running?.connections ?? 0;
  }

  /** Bytes queued for browsers, summed over every WebSocket. */
  get pendingWrite(): number {
    return this.running?.pendingWrite ?? 0;
  }

  /** Bytes queued for bridge targets (TCP), summed over every bridged WebSocket. */
  get pendingToTargets(): number {
    return this.running?.pendingToTargets ?? 0;
  }

  /**
   * Refuses new handshakes, closes every WebSocket with 1001 (after what is
   * queued for it), then the HTTP server.
   */
  async close(graceMs?: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.running?.close(graceMs);
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { SockitError, fromSystemError, UsageError } from '../../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_FRAME } from '../../limits.js';
import { silentLogger, type Logger } from '../../log.js';
import { formatAddress, isLoopbackHost, type Address } from '../../transport/address.js';
import type { Connection } from '../../transport/connection.js';
import { HttpServer, requestPeer } from '../../transport/http-server.js';
import { connect } from '../../transport/tcp-client.js';
import type { TlsClientConfig } from '../../transport/tls.js';
import { WebSocketAcceptor, refuseUpgrade } from '../../transport/websocket.js';
import type { ChatServer } from '../chat/index.js';
import { WsLink, type LinkKind } from './link.js';
import { WsChatConnection } from './ws-chat-connection.js';
import {
  BRIDGE_TARGET_HIGH_WATER,
  CHAT_WS_PATH,
  DEFAULT_BRIDGE_HIGH_WATER,
  DEFAULT_WEB_HEARTBEAT_MS,
  DEFAULT_WEB_MAX_CHAT_MESSAGE,
  DEFAULT_WEB_MAX_CONNECTIONS,
  DEFAULT_WEB_MAX_QUEUE,
  DEFAULT_WEB_NOTICE_GRACE_MS,
  normalizeOrigin,
} from './messages.js';
import type { WebGatewayOptions, WebGatewayStats } from './server.js';
import { StaticFiles, plain } from './static-files.js';

interface Route {
  kind: LinkKind;
  path: string;
  /** A TCP target, or the broker in this process. */
  target: Address | ChatServer;
  tls: TlsClientConfig | undefined;
  acceptor: WebSocketAcceptor;
  maxFrame: number;
  maxQueue: number;
}

function describeTarget(target: Address | ChatServer): string {
  return 'kind' in target ? formatAddress(target) : 'in-process';
}

/** Host names that can only be reached by someone on this machine, or an IP literal. */
function isAddressHost(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[') || isLoopbackHost(host);
}

/** The running gateway behind WebGateway (server.ts), loaded when it starts listening. */
export class Gateway {
  private readonly options: WebGatewayOptions;
  private readonly log: Logger;
  private readonly http: HttpServer;
  private readonly allowOrigins: ReadonlySet<string>;
  private readonly maxConnections: number;
  private readonly graceMs: number;
  private readonly links = new Set<WsLink | WsChatConnection>();
  private routes = new Map<string, Route>();
  private files: StaticFiles | undefined;
  /** Handshakes waiting for their target's connect: they count against the limit. */
  private connecting = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private bound: Address | undefined;
  private closing = false;

  constructor(
    options: WebGatewayOptions,
    readonly stats: WebGatewayStats,
  ) {
    this.options = options;
    this.log = (options.logger ?? silentLogger).child({ service: 'web' });
    this.allowOrigins = new Set(options.allowOrigins ?? []);
    this.maxConnections = options.maxConnections ?? DEFAULT_WEB_MAX_CONNECTIONS;
    this.graceMs = options.noticeGraceMs ?? DEFAULT_WEB_NOTICE_GRACE_MS;
    this.http = new HttpServer(
      {
        request: (req, res) => {
          this.onRequest(req, res);
        },
        upgrade: (req, socket, head) => {
          void this.onUpgrade(req, socket, head);
        },
      },
      {
        ...(options.tls !== undefined ? { tls: options.tls } : {}),
        maxSockets: this.maxConnections + 64,
        ...(options.shutdownGraceMs !== undefined
          ? { shutdownGraceMs: options.shutdownGraceMs }
          : {}),
        logger: options.logger ?? silentLogger,
        name: 'web',
      },
    );
  }

  async listen(address: Address): Promise<Address> {
    this.files = await StaticFiles.load();
    const routes = new Map<string, Route>();
    const chat = this.options.chat;
    if (chat !== undefined) {
      const maxPayload = this.options.maxChatMessage ?? DEFAULT_WEB_MAX_CHAT_MESSAGE;
      routes.set(CHAT_WS_PATH, {
        kind: 'chat',
        path: CHAT_WS_PATH,
        target: chat,
        tls: this.options.chatTls,
        acceptor: await WebSocketAcceptor.create(maxPayload),
        // The broker's own bound on what it sends is 64 KiB per envelope header.
        maxFrame: DEFAULT_WEB_MAX_CHAT_MESSAGE,
        maxQueue: this.options.maxQueue ?? DEFAULT_WEB_MAX_QUEUE,
      });
    }
    const maxFrame = this.options.maxFrame ?? DEFAULT_MAX_FRAME;
    for (const bridge of this.options.bridges ?? []) {
      routes.set(bridge.path, {
        kind: 'bridge',
        path: bridge.path,
        target: bridge.target,
        tls: undefined,
        acceptor: await WebSocketAcceptor.create(maxFrame),
        maxFrame,
        maxQueue: this.options.bridgeHighWater ?? DEFAULT_BRIDGE_HIGH_WATER,
      });
    }
    this.routes = routes;
    this.bound = await this.http.listen(address);
    const every = this.options.heartbeatMs ?? DEFAULT_WEB_HEARTBEAT_MS;
    if (every > 0) {
      this.heartbeatTimer = setInterval(() => {
        for (const link of this.links) link.heartbeat();
      }, every);
      this.heartbeatTimer.unref();
    }
    this.log.info({
      event: 'routes',
      chat: chat !== undefined ? describeTarget(chat) : null,
      bridges: [...routes.values()]
        .filter((r) => r.kind === 'bridge')
        .map((r) => `${r.path}=${describeTarget(r.target)}`),
    });
    return this.bound;
  }

  /** `http 127.0.0.1:7080` (or https), as `sockit serve` reports it. */
  get addresses(): string[] {
    if (!this.bound) return [];
    return [`${this.options.tls ? 'https' : 'http'} ${formatAddress(this.bound)}`];
  }

  /** The page's URL, e.g. `http://127.0.0.1:7080/`. */
  get url(): string {
    const bound = this.bound;
    if (bound?.kind !== 'inet')
      throw new UsageError('INVALID_STATE', 'gateway is not listening on TCP');
    const host = bound.host.includes(':') ? `[${bound.host}]` : bound.host;
    return `${this.options.tls ? 'https' : 'http'}://${host}:${bound.port}/`;
  }

  /** WebSockets open now. */
  get connections(): number {
    return this.links.size;
  }

  /** Bytes queued for browsers, summed over every link. */
  get pendingWrite(): number {
    let sum = 0;
    for (const link of this.links) sum += link.pendingWrite;
    return sum;
  }

  /** Bytes queued for bridge targets, summed over every link. */
  get pendingToTargets(): number {
    let sum = 0;
    for (const link of this.links) if (link instanceof WsLink) sum += link.pendingToTarget;
    return sum;
  }

  /**
   * Refuses new handshakes, closes every WebSocket with 1001 (after what is
   * queued for it), then the HTTP server.
   */
  async close(graceMs?: number): Promise<void> {
    this.closing = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    for (const link of this.links) link.shutDown();
    await this.http.close(graceMs);
  }

  private isClosing(): boolean {
    return this.closing;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const files = this.files;
    const status = files ? files.serve(req, res) : plain(res, 503, 'starting');
    this.log.debug({
      event: 'http',
      remote: requestPeer(req),
      method: req.method,
      url: req.url?.slice(0, 200),
      status,
    });
  }

  private refuse(req: IncomingMessage, socket: Duplex, status: number, why: string): void {
    this.log.warn({
      event: 'ws_refused',
      remote: requestPeer(req),
      url: req.url?.slice(0, 200),
      origin: req.headers.origin?.slice(0, 200),
      status,
      why,
    });
    refuseUpgrade(socket, status, why);
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const route = this.routes.get(q < 0 ? url : url.slice(0, q));
    if (route === undefined) {
      this.refuse(req, socket, 404, 'no WebSocket endpoint here');
      return;
    }
    if (req.method !== 'GET') {
      this.refuse(req, socket, 405, 'a WebSocket handshake is a GET');
      return;
    }
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      this.refuse(req, socket, 400, 'only WebSocket upgrades');
      return;
    }
    const originProblem = this.checkOrigin(req);
    if (originProblem !== undefined) {
      this.stats.originRefused++;
      this.refuse(req, socket, 403, originProblem);
      return;
    }
    if (this.closing) {
      this.refuse(req, socket, 503, 'SHUTTING_DOWN: the gateway is going away');
      return;
    }
    if (this.links.size + this.connecting >= this.maxConnections) {
      this.stats.busy++;
      this.refuse(req, socket, 503, `BUSY: ${this.maxConnections} WebSocket connections at once`);
      return;
    }
    const target = route.target;
    if (!('kind' in target)) {
      const ws = await route.acceptor.accept(req, socket, head);
      const conn = new WsChatConnection(ws, {
        remote: requestPeer(req),
        graceMs: this.graceMs,
        log: this.log,
        onClosed: (done) => {
          this.links.delete(done);
        },
      });
      this.links.add(conn);
      this.log.info({
        event: 'ws_open',
        conn: conn.id,
        remote: requestPeer(req),
        path: route.path,
      });
      target.attach(conn, { framing: 'u32be' });
      return;
    }
    // The target first: a WebSocket is only opened when there is something behind it.
    this.connecting++;
    let conn: Connection;
    try {
      conn = await connect(target, {
        connectTimeoutMs: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        ...(route.kind === 'bridge' ? { writeHighWater: BRIDGE_TARGET_HIGH_WATER } : {}),
        ...(route.tls !== undefined ? { tls: route.tls } : {}),
      });
    } catch (err) {
      this.stats.targetUnreachable++;
      const error = err instanceof SockitError ? err : fromSystemError(err, 'connect');
      this.refuse(req, socket, 502, `${error.code}: ${route.kind} server unreachable`);
      return;
    } finally {
      this.connecting--;
    }
    // The browser may have gone, or close() begun, while we connected.
    if (socket.destroyed || this.isClosing()) {
      conn.destroy();
      socket.destroy();
      return;
    }
    const ws = await route.acceptor.accept(req, socket, head);
    const remote = requestPeer(req);
    const link = new WsLink(ws, conn, {
      kind: route.kind,
      path: route.path,
      remote,
      maxFrame: route.maxFrame,
      maxQueue: route.maxQueue,
      graceMs: this.graceMs,
      log: this.log,
      onDone: (done) => {
        this.links.delete(done);
      },
    });
    this.links.add(link);
    this.log.info({
      event: 'ws_open',
      conn: conn.id,
      remote,
      path: route.path,
      target: formatAddress(target),
    });
  }

  /**
   * Same origin by default: the `Origin` must be this server as the browser
   * reached it (`Host`), and that host must be an address or a loopback name
   * — a name resolving to us only through DNS rebinding does not count —
   * unless `--allow-origin` names it. No `Origin`: only with allowNoOrigin.
   * Returns why the handshake is refused, or undefined.
   */
  private checkOrigin(req: IncomingMessage): string | undefined {
    const header = req.headers.origin;
    if (header === undefined) {
      return this.options.allowNoOrigin === true
        ? undefined
        : 'no Origin header (a non-browser client needs --allow-no-origin)';
    }
    const origin = normalizeOrigin(header);
    if (origin === undefined) return 'Origin is not an http(s) origin';
    if (this.allowOrigins.has(origin)) return undefined;
    const host = req.headers.host;
    if (host !== undefined) {
      const own = normalizeOrigin(`${this.options.tls ? 'https' : 'http'}://${host}`);
      if (own === origin && isAddressHost(new URL(own).hostname)) return undefined;
    }
    return `Origin ${origin} is not allowed (add --allow-origin ${origin})`;
  }
}

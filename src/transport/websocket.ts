import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';

export type { WebSocket } from 'ws';

/**
 * `ws` is loaded on first use: `import 'sockit'` must stay under V8's 8 MB
 * heap threshold (test/index-heap.test.ts), and only a web gateway needs it.
 */
let wsModule: Promise<typeof import('ws')> | undefined;

async function loadWs(): Promise<typeof import('ws')> {
  wsModule ??= import('ws');
  return wsModule;
}

/** HTTP status lines for the refusals a gateway sends instead of a handshake. */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  426: 'Upgrade Required',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/**
 * Completes WebSocket handshakes on sockets node:http hands over at
 * 'upgrade' (`ws` with `noServer`), one acceptor per message bound.
 */
export class WebSocketAcceptor {
  private constructor(private readonly server: WebSocketServer) {}

  /**
   * @param maxPayload the largest message accepted; a bigger one closes the
   *   WebSocket with 1009 before it is buffered.
   */
  static async create(maxPayload: number): Promise<WebSocketAcceptor> {
    const { WebSocketServer } = await loadWs();
    return new WebSocketAcceptor(
      new WebSocketServer({
        noServer: true,
        maxPayload,
        clientTracking: false,
        // Compression costs CPU and memory per connection, and mixes secrets with peer text (CRIME).
        perMessageDeflate: false,
      }),
    );
  }

  /** Finishes the handshake (101); resolves with the open WebSocket. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<WebSocket> {
    return new Promise((resolve) => {
      this.server.handleUpgrade(req, socket, head, resolve);
    });
  }
}

/** Answers an upgrade request with an HTTP error instead of a handshake, and closes. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      'X-Content-Type-Options: nosniff\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The socket under a WebSocket, for pause/resume and byte counts. */
export function socketOf(ws: WebSocket): Duplex | undefined {
  return (ws as unknown as { _socket?: Duplex | null })._socket ?? undefined;
}

/**
 * The floor of a WebSocket-to-TCP bridge, for the web bench: a minimal
 * hand-written relay on `ws` and `node:net`, one TCP connection per
 * WebSocket, one binary message ↔ one u32be frame:
 *
 * - a message from the browser goes out as its 4-byte header and payload in
 *   one `writev` (cork/uncork);
 * - frames from the target are cut out of the TCP stream (a frame split
 *   across reads waits for its rest) and each is sent as one binary message;
 * - either side closing closes the other.
 *
 * No Origin check, limits, heartbeat or backpressure: it is what the bridge
 * costs at the least, not a gateway.
 */
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { WebSocketServer } from 'ws';

const HEADER = 4;
const MAX_PAYLOAD = 16 * 1024 * 1024;

export function createWsRelayServer(targetPort: number): Server {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PAYLOAD,
    perMessageDeflate: false,
  });
  const http = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  http.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const target = connect({ host: '127.0.0.1', port: targetPort });
      target.setNoDelay(true);
      let pending: Buffer | undefined;
      target.on('data', (data: Buffer) => {
        let chunk = data;
        if (pending) {
          chunk = Buffer.concat([pending, data]);
          pending = undefined;
        }
        let off = 0;
        while (chunk.length - off >= HEADER) {
          const length = chunk.readUInt32BE(off);
          if (chunk.length - off < HEADER + length) break;
          ws.send(chunk.subarray(off + HEADER, off + HEADER + length), { binary: true });
          off += HEADER + length;
        }
        if (off < chunk.length) pending = chunk.subarray(off);
      });
      ws.on('message', (data: Buffer) => {
        const header = Buffer.allocUnsafe(HEADER);
        header.writeUInt32BE(data.length, 0);
        target.cork();
        target.write(header);
        target.write(data);
        target.uncork();
      });
      const close = (): void => {
        target.destroy();
        ws.terminate();
      };
      target.on('error', close);
      target.on('close', close);
      ws.on('error', close);
      ws.on('close', close);
    });
  });
  return http;
}

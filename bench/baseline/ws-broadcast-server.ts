/**
 * The baseline the web fan-out bench measures sockit's gateway against: a
 * minimal hand-written `ws` broadcast, what a careful engineer writes for
 * "one room, relay every message to every other browser":
 *
 * - a `node:http` server with a `ws` WebSocketServer on it (no
 *   permessage-deflate, as sockit's gateway);
 * - each text message is one JSON request; `{"type":"join"}` puts the client
 *   in the room (a `guestN` name), `{"type":"say","text"}` becomes
 *   `{"type":"message","id","from","room","text","ts"}`, encoded once into
 *   one Buffer sent to every other member as a text message;
 * - a member whose `bufferedAmount` passes 1 MiB is dropped (no unbounded queue).
 *
 * No validation, rate limit, Origin check, pings, history or nicks: it is the
 * cost floor of a JSON broadcast on `ws`, not a chat server.
 */
import { createServer, type Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

const MAX_PAYLOAD = 64 * 1024;
const MAX_QUEUE = 1024 * 1024;
const ROOM = 'bench';

interface Member {
  ws: WebSocket;
  name: string;
  joined: boolean;
}

export function createWsBroadcastServer(): Server {
  const members = new Set<Member>();
  let nextGuest = 1;
  let nextId = 1;
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
      const member: Member = { ws, name: `guest${nextGuest++}`, joined: false };
      members.add(member);
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) return;
        let request: { type?: unknown; text?: unknown };
        try {
          request = JSON.parse(data.toString('utf8')) as typeof request;
        } catch {
          ws.terminate();
          return;
        }
        if (request.type === 'join') member.joined = true;
        else if (request.type === 'say' && typeof request.text === 'string' && member.joined) {
          const event = Buffer.from(
            JSON.stringify({
              type: 'message',
              id: nextId++,
              from: member.name,
              room: ROOM,
              text: request.text,
              ts: Date.now(),
            }),
          );
          for (const other of members) {
            if (other === member || !other.joined) continue;
            if (other.ws.bufferedAmount > MAX_QUEUE) other.ws.terminate();
            else other.ws.send(event, { binary: false });
          }
        }
      });
      ws.on('error', () => {
        ws.terminate();
      });
      ws.on('close', () => {
        members.delete(member);
      });
    });
  });
  return http;
}

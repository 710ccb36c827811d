/**
 * The baseline the chat fan-out bench measures sockit's ChatServer against: a
 * minimal hand-written broadcast on plain `node:net`, the code a careful
 * engineer writes for "one room, relay every message to everyone else":
 *
 * - reads 4-byte big-endian length-prefixed JSON messages (any chunking; a
 *   frame split across reads is joined with its rest when that arrives);
 * - `{"type":"join"}` puts the client in the room (one room, no nicks beyond
 *   a `guestN` name); `{"type":"say","text"}` becomes
 *   `{"type":"message","id","from","room","text","ts"}`, encoded once;
 * - every message of one read is sent to each other member with one
 *   `write()` (one buffer shared by all recipients);
 * - a recipient that lets 1 MiB pile up is dropped (no unbounded queue).
 *
 * No validation, rate limit, pings, text clients or notices: it is the cost
 * floor of a JSON broadcast on node:net, not a chat server.
 */
import { createServer, type Server, type Socket } from 'node:net';

const HEADER = 4;
const MAX_FRAME = 64 * 1024;
const MAX_QUEUE = 1024 * 1024;
const ROOM = 'bench';

interface Member {
  socket: Socket;
  name: string;
  joined: boolean;
}

function frame(json: string): Buffer {
  const body = Buffer.from(json);
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, HEADER);
  return out;
}

export function createBroadcastServer(): Server {
  const members = new Set<Member>();
  let nextGuest = 1;
  let nextId = 1;

  const handle = (member: Member, payload: Buffer, out: Buffer[]): void => {
    let request: { type?: unknown; text?: unknown };
    try {
      request = JSON.parse(payload.toString('utf8')) as typeof request;
    } catch {
      member.socket.destroy();
      return;
    }
    if (request.type === 'join') member.joined = true;
    else if (request.type === 'say' && typeof request.text === 'string' && member.joined) {
      out.push(
        frame(
          JSON.stringify({
            type: 'message',
            id: nextId++,
            from: member.name,
            room: ROOM,
            text: request.text,
            ts: Date.now(),
          }),
        ),
      );
    }
  };

  const broadcast = (from: Member, out: Buffer[]): void => {
    const bytes = out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
    for (const member of members) {
      if (member === from || !member.joined) continue;
      if (member.socket.writableLength > MAX_QUEUE) member.socket.destroy();
      else member.socket.write(bytes);
    }
  };

  return createServer((socket) => {
    socket.setNoDelay(true);
    const member: Member = { socket, name: `guest${nextGuest++}`, joined: false };
    members.add(member);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let need = -1; // header + payload bytes of the split frame; -1 while its header is incomplete

    socket.on('data', (chunk: Buffer) => {
      const out: Buffer[] = [];
      let off = 0;
      if (pendingBytes > 0) {
        pending.push(chunk);
        const joined = Buffer.concat(pending, pendingBytes + chunk.length);
        if (need < 0 && joined.length >= HEADER) need = HEADER + joined.readUInt32BE(0);
        if (need < 0 || joined.length < need) {
          pending = [joined];
          pendingBytes = joined.length;
          return;
        }
        handle(member, joined.subarray(HEADER, need), out);
        off = need - pendingBytes; // bytes of this chunk used by the split frame
        pending = [];
        pendingBytes = 0;
        need = -1;
      }
      while (chunk.length - off >= HEADER) {
        const length = chunk.readUInt32BE(off);
        if (length > MAX_FRAME) {
          socket.destroy();
          return;
        }
        if (chunk.length - off < HEADER + length) break;
        handle(member, chunk.subarray(off + HEADER, off + HEADER + length), out);
        off += HEADER + length;
      }
      if (off < chunk.length) {
        pending = [chunk.subarray(off)];
        pendingBytes = chunk.length - off;
        if (pendingBytes >= HEADER) need = HEADER + chunk.readUInt32BE(off);
      }
      if (out.length > 0) broadcast(member, out);
    });
    socket.on('error', () => {
      socket.destroy();
    });
    socket.on('close', () => {
      members.delete(member);
    });
  });
}

import { once } from 'node:events';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import type { Address } from '../../src/index.js';

export const LOOPBACK: Address = { kind: 'inet', host: '127.0.0.1', port: 0 };

export function portOf(address: Address | undefined): number {
  if (!address || address.kind !== 'inet') throw new Error('expected an inet address');
  return address.port;
}

/** A raw client socket, connected. */
export async function rawConnect(address: Address): Promise<Socket> {
  const socket =
    address.kind === 'unix'
      ? netConnect({ path: address.path })
      : netConnect({ host: address.host, port: address.port });
  socket.on('error', () => undefined); // tests look at 'close'; a reset must not crash the runner
  await once(socket, 'connect');
  return socket;
}

/** Collects everything a socket receives until it closes. */
export async function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'close');
  return Buffer.concat(chunks);
}

/** Resolves with the bytes received once at least `n` have arrived. */
export function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      total += c.length;
      if (total >= n) {
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve(Buffer.concat(chunks));
      }
    };
    const onClose = (): void => {
      reject(new Error(`socket closed after ${total} of ${n} bytes`));
    };
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

export function frame(payload: string | Buffer, le = false): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(4);
  if (le) header.writeUInt32LE(body.length);
  else header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

/** Resolves when a socket has closed, whatever the reason (events.once would reject on 'error'). */
export function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once('close', () => resolve());
  });
}

/** A TCP server on 127.0.0.1 that accepts and reads but never answers; closed in teardown. Returns its port. */
export async function muteServer(t: TestContext): Promise<number> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.close();
    for (const s of sockets) s.destroy();
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('mute server has no port');
  return address.port;
}

/** Parses JSON-lines output (`--json`, logs) into records. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

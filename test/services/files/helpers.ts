import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  EnvelopeChannel,
  FilesClient,
  FilesServer,
  connect,
  type Address,
  type EnvelopeHeader,
  type FilesClientOptions,
  type FilesServerOptions,
} from '../../../src/index.js';
import { clientHandshake } from '../../../src/internal.js';
import { tempDir } from '../../helpers/echo.js';
import { LOOPBACK } from '../../helpers/net.js';

export const TOKEN = 'test-token-0123456789abcdef';

export interface StartedFiles {
  server: FilesServer;
  address: Address;
  root: string;
  /** A scratch directory for local files, beside (not inside) the root. */
  work: string;
}

/** A FilesServer on 127.0.0.1:0 with a fresh root; closed in teardown. */
export async function startFiles(
  t: TestContext,
  options: Partial<FilesServerOptions> = {},
): Promise<StartedFiles> {
  const base = await tempDir(t, 'sockit-files-');
  const root = join(base, 'root');
  const work = join(base, 'work');
  await mkdir(work);
  const server = new FilesServer({ root, token: TOKEN, ...options });
  t.after(() => server.close(0));
  const address = await server.listen(LOOPBACK);
  return { server, address, root, work };
}

export async function connectFiles(
  t: TestContext,
  address: Address,
  options: FilesClientOptions = {},
): Promise<FilesClient> {
  const client = await FilesClient.connect(address, { token: TOKEN, ...options });
  t.after(() => client.destroy());
  return client;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A local file of `size` random-ish bytes (a random MiB repeated, each copy stamped with its index). */
export async function makeFile(path: string, size: number): Promise<void> {
  if (size <= 1 << 20) {
    await writeFile(path, randomBytes(size));
    return;
  }
  const block = randomBytes(1 << 20);
  const fh = await open(path, 'w');
  try {
    for (let pos = 0, i = 0; pos < size; pos += block.length, i++) {
      block.writeUInt32BE(i, 0);
      await fh.write(block, 0, Math.min(block.length, size - pos), pos);
    }
  } finally {
    await fh.close();
  }
}

/** Every path under `dir` (relative), directories marked with a trailing "/". */
export async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        out.push(`${r}/`);
        await walk(join(d, e.name), r);
      } else out.push(r);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/** An authenticated envelope channel to a files server, for requests the client library would refuse to send. */
export async function rawChannel(
  t: TestContext,
  address: Address,
  options: { token?: string; byteOrder?: 'u32be' | 'u32le' } = {},
): Promise<EnvelopeChannel> {
  const conn = await connect(address);
  t.after(() => conn.destroy());
  const channel = new EnvelopeChannel(conn, { byteOrder: options.byteOrder ?? 'u32be' });
  await clientHandshake(channel, { service: 'files', token: options.token ?? TOKEN });
  return channel;
}

/**
 * Sends one envelope and resolves with the next reply header (the channel
 * stays usable if the server keeps it open); CLOSED if it closes first.
 * With `body`, the body is sent when the server says "continue".
 */
export function rawRequest(
  channel: EnvelopeChannel,
  header: EnvelopeHeader,
  body?: Buffer,
  commit?: string,
): Promise<EnvelopeHeader> {
  return new Promise((resolve) => {
    channel.setHandlers({
      header: (h) => {
        if (h.type === 'continue' && body) {
          channel.sendBody(body);
          if (commit !== undefined) channel.send({ type: 'commit', sha256: commit });
          return;
        }
        channel.pause();
        resolve(h);
      },
      end: () => resolve({ type: 'CLOSED' }),
      close: () => resolve({ type: 'CLOSED' }),
    });
    channel.send(header);
    channel.resume();
  });
}

/** `ok`, an error code, or CLOSED. */
export function outcome(reply: EnvelopeHeader): string {
  return reply.type === 'error' ? String(reply.code) : reply.type;
}

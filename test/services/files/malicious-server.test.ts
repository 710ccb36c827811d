import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { FilesClient, SockitError } from '../../../src/index.js';
import { tempDir } from '../../helpers/echo.js';
import { frame } from '../../helpers/net.js';

const T = { timeout: 30_000 };

function envelope(header: Record<string, unknown>): Buffer {
  return frame(JSON.stringify(header));
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * A hand-written hostile files server: it greets without auth, waits for the
 * client's first frame (the `get`), then sends `answer` and keeps the socket open.
 */
async function hostileServer(t: TestContext, answer: (socket: Socket) => void): Promise<number> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.write(envelope({ type: 'hello', service: 'files', version: 1, auth: 'none' }));
    socket.once('data', () => {
      answer(socket);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.close();
    for (const s of sockets) s.destroy();
  });
  return (server.address() as { port: number }).port;
}

async function getFrom(
  t: TestContext,
  port: number,
  options: { maxSize?: number } = {},
): Promise<{ error: SockitError; dir: string }> {
  const dir = join(await tempDir(t, 'sockit-evil-'), 'dl');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir);
  const client = await FilesClient.connect(
    { kind: 'inet', host: '127.0.0.1', port },
    { timeoutMs: 3000 },
  );
  t.after(() => client.destroy());
  let error: unknown;
  try {
    await client.get('report.txt', join(dir, 'report.txt'), options);
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof SockitError, `expected a refusal, got ${String(error)}`);
  return { error, dir };
}

async function assertNothingWritten(dir: string): Promise<void> {
  assert.deepEqual(await readdir(dir), []);
  assert.deepEqual(await readdir(dirname(dir)), ['dl']);
}

test(
  'malicious server: a traversal name in the reply is refused, nothing written',
  T,
  async (t) => {
    const body = Buffer.from('pwned');
    const port = await hostileServer(t, (s) => {
      s.write(
        envelope({
          type: 'file',
          name: '../../.ssh/authorized_keys',
          size: 5,
          total: 5,
          offset: 0,
        }),
      );
      s.write(body);
      s.write(envelope({ type: 'done', sha256: sha(body) }));
    });
    const { error, dir } = await getFrom(t, port);
    assert.equal(error.code, 'BAD_REPLY');
    await assertNothingWritten(dir);
  },
);

test('malicious server: more bytes than announced never reach the file', T, async (t) => {
  const body = Buffer.from('0123456789');
  const port = await hostileServer(t, (s) => {
    s.write(envelope({ type: 'file', name: 'report.txt', size: 4, total: 4, offset: 0 }));
    s.write(body); // 6 bytes too many: read as the next frame header
    s.write(envelope({ type: 'done', sha256: sha(body) }));
  });
  const { error, dir } = await getFrom(t, port);
  assert.ok(
    ['BAD_REPLY', 'BAD_HEADER', 'FRAME_TOO_LARGE', 'HEADER_TOO_LARGE'].includes(error.code),
    error.code,
  );
  await assertNothingWritten(dir);
});

test('malicious server: a lying hash is detected, nothing kept', T, async (t) => {
  const body = Buffer.from('evil bytes');
  const port = await hostileServer(t, (s) => {
    s.write(
      envelope({
        type: 'file',
        name: 'report.txt',
        size: body.length,
        total: body.length,
        offset: 0,
      }),
    );
    s.write(body);
    s.write(envelope({ type: 'done', sha256: sha(Buffer.from('what you expected')) }));
  });
  const { error, dir } = await getFrom(t, port);
  assert.equal(error.code, 'HASH_MISMATCH');
  await assertNothingWritten(dir);
});

test(
  'malicious server: inconsistent sizes, a huge size over --max-size, ANSI in a name',
  T,
  async (t) => {
    const sizes = await hostileServer(t, (s) => {
      s.write(envelope({ type: 'file', name: 'report.txt', size: 10, total: 5, offset: 0 }));
    });
    const a = await getFrom(t, sizes);
    assert.equal(a.error.code, 'BAD_REPLY');
    await assertNothingWritten(a.dir);

    const huge = await hostileServer(t, (s) => {
      s.write(
        envelope({
          type: 'file',
          name: 'report.txt',
          size: 2 ** 53 - 1,
          total: 2 ** 53 - 1,
          offset: 0,
        }),
      );
      s.write(Buffer.alloc(1024));
    });
    const b = await getFrom(t, huge, { maxSize: 1024 * 1024 });
    assert.equal(b.error.code, 'BAD_REPLY');
    await assertNothingWritten(b.dir);

    const ansi = await hostileServer(t, (s) => {
      s.write(
        envelope({
          type: 'file',
          name: 'report.txt\u001b[2J\u001b[31m',
          size: 1,
          total: 1,
          offset: 0,
        }),
      );
    });
    const c = await getFrom(t, ansi);
    assert.equal(c.error.code, 'BAD_REPLY');
    assert.ok(!c.error.message.includes('\u001b'), c.error.message);
    await assertNothingWritten(c.dir);

    const errorText = await hostileServer(t, (s) => {
      s.write(envelope({ type: 'error', code: 'NOT_FOUND', message: 'gone\u001b]0;owned\u0007' }));
    });
    const d = await getFrom(t, errorText);
    assert.equal(d.error.code, 'NOT_FOUND');
    assert.ok(
      !Array.from(d.error.message, (c) => c.charCodeAt(0)).some((c) => c < 0x20),
      d.error.message,
    );
  },
);

test('malicious server: a body that stops short leaves no file under the name', T, async (t) => {
  const port = await hostileServer(t, (s) => {
    s.write(envelope({ type: 'file', name: 'report.txt', size: 100, total: 100, offset: 0 }));
    s.end(Buffer.alloc(50));
  });
  const { error, dir } = await getFrom(t, port);
  assert.ok(['INCOMPLETE', 'CONNECTION_CLOSED'].includes(error.code), error.code);
  // Only the resumable partial, never the final name.
  assert.deepEqual(await readdir(dir), ['report.txt.sockit-part']);
});

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import {
  EnvelopeDecoder,
  ExecClient,
  SockitError,
  encodeEnvelopeHeader,
  type EnvelopeHeader,
} from '../../../src/index.js';
import { computeMac } from '../../../src/internal.js';
import { TOKEN, execClient, runRemote, startExec } from '../../helpers/exec.js';
import { tempDir } from '../../helpers/echo.js';
import { closed, rawConnect } from '../../helpers/net.js';

/** Every envelope header a raw socket receives, until it closes. */
function headers(socket: Socket): { list: EnvelopeHeader[]; next: () => Promise<EnvelopeHeader> } {
  const list: EnvelopeHeader[] = [];
  const waiting: ((h: EnvelopeHeader) => void)[] = [];
  let read = 0;
  const decoder = new EnvelopeDecoder({
    onHeader: (h) => {
      list.push(h);
      waiting.shift()?.(h);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk);
  });
  return {
    list,
    next: () =>
      new Promise((resolve, reject) => {
        const have = list[read];
        if (have) {
          read++;
          resolve(have);
          return;
        }
        waiting.push((h) => {
          read++;
          resolve(h);
        });
        socket.once('close', () => {
          reject(new Error('closed'));
        });
      }),
  };
}

function send(socket: Socket, header: EnvelopeHeader): void {
  socket.write(encodeEnvelopeHeader(header));
}

describe('exec authentication (SPEC §2.3)', () => {
  it('greets with a fresh 256-bit nonce on every connection', async (t) => {
    const { address } = await startExec(t);
    const nonces = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const socket = await rawConnect(address);
      t.after(() => socket.destroy());
      const hello = await headers(socket).next();
      assert.equal(hello.type, 'hello');
      assert.equal(hello.service, 'exec');
      assert.equal(hello.version, 1);
      assert.match(String(hello.nonce), /^[0-9a-f]{64}$/);
      nonces.add(String(hello.nonce));
    }
    assert.equal(nonces.size, 3);
  });

  it('a right answer gets ready; the token itself never crosses the wire', async (t) => {
    const { address } = await startExec(t);
    const socket = await rawConnect(address);
    t.after(() => socket.destroy());
    const wire: Buffer[] = [];
    socket.on('data', (b: Buffer) => wire.push(b));
    const h = headers(socket);
    const hello = await h.next();
    const mac = computeMac(TOKEN, String(hello.nonce));
    send(socket, { type: 'auth', mac });
    assert.equal((await h.next()).type, 'ready');
    assert.ok(!Buffer.concat(wire).includes(TOKEN));
    assert.notEqual(mac, TOKEN);
  });

  const failures: [string, (socket: Socket, nonce: string) => void][] = [
    [
      'a wrong token',
      (s, nonce) => send(s, { type: 'auth', mac: computeMac('wrong-token-wrong-token', nonce) }),
    ],
    ['a malformed mac', (s) => send(s, { type: 'auth', mac: 'zz' })],
    ['a request before auth', (s) => send(s, { type: 'run', argv: ['true'] })],
    ['no answer, then FIN', (s) => s.end()],
  ];
  for (const [name, act] of failures) {
    it(`${name} gets AUTH_FAILED and a close`, async (t) => {
      const { address } = await startExec(t);
      const socket = await rawConnect(address);
      t.after(() => socket.destroy());
      const h = headers(socket);
      const hello = await h.next();
      act(socket, String(hello.nonce));
      await closed(socket);
      const error = h.list.find((x) => x.type === 'error');
      assert.equal(error?.code, 'AUTH_FAILED');
    });
  }

  it('a late answer gets AUTH_FAILED (authTimeoutMs)', async (t) => {
    const { address } = await startExec(t, { authTimeoutMs: 150 });
    const socket = await rawConnect(address);
    t.after(() => socket.destroy());
    const h = headers(socket);
    await h.next();
    await closed(socket);
    assert.equal(h.list.at(-1)?.code, 'AUTH_FAILED');
  });

  it('an answer replayed from another connection is refused', async (t) => {
    const { address } = await startExec(t);
    const first = await rawConnect(address);
    t.after(() => first.destroy());
    const h1 = headers(first);
    const mac = computeMac(TOKEN, String((await h1.next()).nonce));
    send(first, { type: 'auth', mac });
    assert.equal((await h1.next()).type, 'ready');

    const second = await rawConnect(address);
    t.after(() => second.destroy());
    const h2 = headers(second);
    await h2.next();
    send(second, { type: 'auth', mac });
    await closed(second);
    assert.equal(h2.list.at(-1)?.code, 'AUTH_FAILED');
  });

  it('nothing sent before auth is ever run', async (t) => {
    const { address } = await startExec(t);
    const dir = await tempDir(t);
    const marker = join(dir, 'ran');
    const socket = await rawConnect(address);
    t.after(() => socket.destroy());
    // run first, then a correct answer: the run must not count.
    const h = headers(socket);
    const hello = await h.next();
    send(socket, { type: 'run', argv: ['touch', marker] });
    send(socket, { type: 'auth', mac: computeMac(TOKEN, String(hello.nonce)) });
    await closed(socket);
    assert.equal(existsSync(marker), false);
  });

  it('the client library reports AUTH_FAILED for a wrong token', async (t) => {
    const { address } = await startExec(t);
    await assert.rejects(
      ExecClient.connect(address, { token: 'not-the-token-not-the-token' }),
      (err: unknown) => err instanceof SockitError && err.code === 'AUTH_FAILED',
    );
  });

  it('an address with too many failures is refused with RATE_LIMITED; others carry on', async (t) => {
    const { address } = await startExec(t, { authFailures: { limit: 3 } });
    for (let i = 0; i < 3; i++) {
      await assert.rejects(ExecClient.connect(address, { token: 'wrong-token-wrong-token' }), {
        code: 'AUTH_FAILED',
      });
    }
    await assert.rejects(ExecClient.connect(address, { token: TOKEN }), { code: 'RATE_LIMITED' });
    // The guard is per address; a fresh server (another address's view) is unaffected.
    const other = await startExec(t);
    const client = await execClient(t, other.address);
    const { exit } = await runRemote(client, { argv: ['true'] });
    assert.equal(exit.code, 0);
  });

  it('a header larger than 1 KiB before auth is refused', async (t) => {
    const { address } = await startExec(t);
    const socket = await rawConnect(address);
    t.after(() => socket.destroy());
    const h = headers(socket);
    await h.next();
    send(socket, { type: 'auth', mac: 'a'.repeat(2000) });
    await closed(socket);
    assert.equal(h.list.at(-1)?.code, 'FRAME_TOO_LARGE');
  });
});

// One contract for every Connection a service may be handed: TCP, TLS, a Unix
// socket and the in-memory pair of test/helpers. A service written against
// the interface behaves the same on each.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  DEFAULT_CONNECTION_LIMITS,
  LimitError,
  TcpServer,
  connect,
  encodeTextNotice,
  type Address,
  type Connection,
  type ConnectionHandlers,
  type ConnectionLimits,
} from '../../src/index.js';
import { CLIENT_CONNECTION_LIMITS } from '../../src/internal.js';
import { selfSigned } from '../helpers/certs.js';
import { memoryPair } from '../helpers/memory-connection.js';
import { LOOPBACK } from '../helpers/net.js';

interface Pair {
  server: Connection;
  client: Connection;
  /** What `remoteHost` says on the server side. */
  host: string;
}

type MakePair = (t: TestContext, limits?: Partial<ConnectionLimits>) => Promise<Pair>;

async function socketPair(
  t: TestContext,
  at: Address,
  limits: Partial<ConnectionLimits>,
  tls?: { cert: string; key: string },
): Promise<Omit<Pair, 'host'>> {
  let accepted!: (conn: Connection) => void;
  const server = new Promise<Connection>((resolve) => (accepted = resolve));
  const listener = new TcpServer(accepted, { ...limits, ...(tls ? { tls } : {}) });
  t.after(() => listener.close(0));
  const address = await listener.listen(at);
  const client = await connect(address, tls ? { tls: { ca: tls.cert } } : {});
  t.after(() => client.destroy());
  return { server: await server, client };
}

const transports: Record<string, MakePair> = {
  tcp: async (t, limits = {}) => ({
    ...(await socketPair(t, LOOPBACK, limits)),
    host: '127.0.0.1',
  }),
  tls: async (t, limits = {}) => ({
    ...(await socketPair(t, LOOPBACK, limits, await selfSigned())),
    host: '127.0.0.1',
  }),
  unix: async (t, limits = {}) => {
    const dir = await mkdtemp(join(tmpdir(), 'sockit-conn-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const pair = await socketPair(t, { kind: 'unix', path: join(dir, 's.sock') }, limits);
    return { ...pair, host: 'unix' };
  },
  memory: (t, limits = {}) => {
    const [server, client] = memoryPair(limits);
    t.after(() => {
      server.destroy();
      client.destroy();
    });
    return Promise.resolve({ server, client, host: 'memory' });
  },
};

/** Collects what a connection receives, and when the peer finished. */
function collect(conn: Connection, more: Partial<ConnectionHandlers> = {}) {
  const chunks: Buffer[] = [];
  let peerEnded!: () => void;
  const ended = new Promise<void>((resolve) => (peerEnded = resolve));
  conn.start({
    data: (chunk) => chunks.push(Buffer.from(chunk)),
    end: () => {
      peerEnded();
      if (more.end) more.end();
      else conn.end();
    },
    ...(more.notice ? { notice: more.notice } : {}),
  });
  return { bytes: () => Buffer.concat(chunks), ended };
}

/** Deterministic bytes, so a reorder or a loss shows as a mismatch. */
function pattern(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

for (const [name, makePair] of Object.entries(transports)) {
  describe(`Connection over ${name}`, () => {
    it('delivers every byte in order, whatever the write sizes', async (t) => {
      const { server, client } = await makePair(t);
      const got = collect(server);
      collect(client);
      const sent: Buffer[] = [];
      for (let i = 0; i < 200; i++) sent.push(pattern(1 + ((i * 977) % 9000), i));
      for (const chunk of sent) client.write(chunk);
      client.writev([pattern(3, 1), pattern(70_000, 2)]);
      sent.push(pattern(3, 1), pattern(70_000, 2));
      client.end();
      await got.ended;
      assert.ok(got.bytes().equals(Buffer.concat(sent)));
      const info = await server.whenClosed;
      assert.equal(info.error, undefined);
      assert.equal(info.bytesRead, Buffer.concat(sent).byteLength);
    });

    it('says who the peer is', async (t) => {
      const { server, client, host } = await makePair(t);
      assert.equal(server.remoteHost, host);
      assert.equal(typeof server.remote, 'string');
      assert.notEqual(server.id, client.id);
    });

    it('refuses a second start', async (t) => {
      const { server } = await makePair(t);
      collect(server);
      assert.throws(() => collect(server), /already started/);
    });

    it('pushes back on a writer while the reader is paused, and delivers all once it resumes', async (t) => {
      const { server, client } = await makePair(t);
      const got = collect(server);
      collect(client);
      server.pause();
      const chunk = pattern(64 * 1024, 7);
      let written = 0;
      // Bounded: kernel buffers on loopback hold a few MiB at most.
      while (written < 64 * 1024 * 1024) {
        written += chunk.byteLength;
        if (!client.write(chunk)) break;
      }
      assert.ok(written < 64 * 1024 * 1024, 'write() turned false');
      assert.ok(client.pendingWrite > 0);
      const draining = client.drained();
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(got.bytes().byteLength, 0, 'a paused reader gets no data');
      server.resume();
      await draining;
      client.end();
      await got.ended;
      assert.equal(got.bytes().byteLength, written);
    });

    it('half-closes: the peer may still answer after our end', async (t) => {
      const { server, client } = await makePair(t);
      const fromClient = collect(server, {
        end: () => {
          server.write(Buffer.from('late reply'));
          server.end();
        },
      });
      const fromServer = collect(client);
      client.write(Buffer.from('question'));
      client.end();
      assert.equal(client.write(Buffer.from('x')), false, 'no writes after end()');
      await fromServer.ended;
      assert.equal(fromClient.bytes().toString(), 'question');
      assert.equal(fromServer.bytes().toString(), 'late reply');
      await client.finished();
      const [a, b] = await Promise.all([server.whenClosed, client.whenClosed]);
      assert.equal(a.error, undefined);
      assert.equal(b.error, undefined);
    });

    it('destroy closes both ends and later writes are refused', async (t) => {
      const { server, client } = await makePair(t);
      collect(server);
      collect(client);
      server.destroy();
      await client.whenClosed;
      await server.whenClosed;
      assert.equal(server.isClosed, true);
      assert.equal(client.isClosed, true);
      assert.equal(client.write(Buffer.from('x')), false);
    });

    it('fail sends the notice, then closes with the error code', async (t) => {
      const { server, client } = await makePair(t);
      collect(server, { notice: (err) => encodeTextNotice(err.code, err.message) });
      const got = collect(client);
      let listened: string | undefined;
      server.onClosed((info) => (listened = info.error?.code));
      server.fail(new LimitError('FRAME_TOO_LARGE', 'too big'));
      await got.ended;
      assert.equal(got.bytes().toString(), 'error FRAME_TOO_LARGE: too big\n');
      const info = await server.whenClosed;
      assert.equal(info.error?.code, 'FRAME_TOO_LARGE');
      assert.equal(listened, 'FRAME_TOO_LARGE');
    });

    it('closes an idle peer with IDLE_TIMEOUT', async (t) => {
      const { server, client } = await makePair(t, { idleTimeoutMs: 100 });
      collect(server);
      collect(client);
      const info = await server.whenClosed;
      assert.equal(info.error?.code, 'IDLE_TIMEOUT');
    });

    it('cuts a peer that does not read with SLOW_CONSUMER', async (t) => {
      const { server, client } = await makePair(t, { maxPendingWrite: 256 * 1024 });
      collect(server);
      collect(client);
      client.pause();
      const chunk = pattern(64 * 1024, 3);
      for (let i = 0; i < 1024 && !server.isClosed; i++) server.write(chunk);
      const info = await server.whenClosed;
      assert.equal(info.error?.code, 'SLOW_CONSUMER');
    });
  });
}

describe('Connection limits', () => {
  it('take their defaults field by field: a limit given as undefined (a JavaScript caller) is not "no limit"', async (t) => {
    const unset = {
      idleTimeoutMs: undefined,
      maxPendingWrite: undefined,
    } as unknown as Partial<ConnectionLimits>;
    let accepted!: (conn: Connection) => void;
    const served = new Promise<Connection>((resolve) => (accepted = resolve));
    const listener = new TcpServer(accepted, unset);
    t.after(() => listener.close(0));
    const client = await connect(await listener.listen(LOOPBACK), unset);
    t.after(() => client.destroy());
    assert.deepEqual(client.limits, CLIENT_CONNECTION_LIMITS);
    assert.deepEqual((await served).limits, DEFAULT_CONNECTION_LIMITS);
  });
});

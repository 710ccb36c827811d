import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EchoClient, SockitError } from '../../../src/index.js';
import { captureLogger, startEcho } from '../../helpers/echo.js';
import { FrameReader } from '../../helpers/frames.js';
import { frame, rawConnect, readAll } from '../../helpers/net.js';

const T = { timeout: 20_000 };

function header(length: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(length);
  return b;
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<SockitError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof SockitError, `expected a SockitError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected a rejection with ${code}`);
}

test(
  'a frame longer than maxFrame: text notice FRAME_TOO_LARGE, close; another client carries on',
  T,
  async (t) => {
    const { server, tcp } = await startEcho(t, { maxFrame: 1024 });
    const bystander = await EchoClient.connect(tcp);
    t.after(() => {
      bystander.destroy();
    });
    assert.equal((await bystander.request(Buffer.from('before'))).toString(), 'BEFORE');

    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    const all = readAll(socket);
    // The header alone is enough: the server must not wait for (or buffer) the 1025 payload bytes.
    socket.write(header(1025));
    const received = (await all).toString();
    assert.match(received, /^error FRAME_TOO_LARGE: .*1025.*\n$/);
    assert.equal(received.split('\n').length, 2, 'exactly one notice line');

    // Exactly maxFrame is still fine, and the bystander never noticed.
    assert.equal((await bystander.request(Buffer.alloc(1024, 'a'))).toString(), 'A'.repeat(1024));
    assert.equal((await bystander.request(Buffer.from('after'))).toString(), 'AFTER');
    assert.equal(server.connections, 1);
  },
);

test(
  'an explicit u32be listener: a 4 GiB length is FRAME_TOO_LARGE, never read as negative',
  T,
  async (t) => {
    // (On an auto port a first byte of 0xff means raw text, so this needs explicit framing.)
    const { tcp } = await startEcho(t, { framing: 'u32be', maxFrame: 1024 });
    for (const length of [0x80000000, 0xffffffff]) {
      const socket = await rawConnect(tcp);
      t.after(() => socket.destroy());
      const all = readAll(socket);
      socket.write(Buffer.concat([header(length), Buffer.alloc(64 * 1024)]));
      assert.match(
        (await all).toString(),
        new RegExp(`^error FRAME_TOO_LARGE: [^\\n]*${length}[^\\n]*\\n$`),
      );
    }
  },
);

test('EchoClient sees the server notice FRAME_TOO_LARGE as a typed error', T, async (t) => {
  const { tcp } = await startEcho(t, { maxFrame: 100 });
  // The client's own limit is larger than the server's, so the frame goes out.
  const client = await EchoClient.connect(tcp, { maxFrame: 1000 });
  t.after(() => {
    client.destroy();
  });
  await rejectsWithCode(client.request(Buffer.alloc(101)), 'FRAME_TOO_LARGE');
});

test(
  'EchoClient refuses a frame above its own maxFrame locally, and stays usable',
  T,
  async (t) => {
    const { logger, waitFor } = captureLogger();
    const { tcp } = await startEcho(t, { logger });
    const client = await EchoClient.connect(tcp, { maxFrame: 10, timeoutMs: 5_000 });
    t.after(() => {
      client.destroy();
    });
    await rejectsWithCode(client.request(Buffer.alloc(11)), 'FRAME_TOO_LARGE');
    // The refused request must not take the next request's reply.
    assert.equal((await client.request(Buffer.from('next'))).toString(), 'NEXT');
    await client.close();
    const close = await waitFor((r) => r.event === 'close');
    assert.equal(close.bytesIn, 8, 'only the 8-byte frame "next" reached the server');
  },
);

test(
  'FIN in the middle of a frame: INCOMPLETE is logged, the connection closes, others unaffected',
  T,
  async (t) => {
    const { logger, waitFor } = captureLogger();
    const { tcp } = await startEcho(t, { logger });
    const bystander = await EchoClient.connect(tcp);
    t.after(() => {
      bystander.destroy();
    });

    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    const reader = new FrameReader(socket);
    // One whole frame, then a header declaring 1 000 000 bytes followed by only 1 000.
    socket.write(frame('whole'));
    assert.equal((await reader.next()).toString(), 'WHOLE');
    socket.end(Buffer.concat([header(1_000_000), Buffer.alloc(1000, 'x')]));
    const leftover = (await reader.closed).toString();
    // The partial frame is never echoed; at most a notice line comes back.
    assert.doesNotMatch(leftover, /X/);
    assert.match(leftover, /^(error INCOMPLETE: [^\n]*\n)?$/);

    const closeLog = await waitFor((r) => r.event === 'close' && r.code === 'INCOMPLETE');
    assert.equal(typeof closeLog.reason, 'string');
    assert.equal((await bystander.request(Buffer.from('still here'))).toString(), 'STILL HERE');
  },
);

test('FIN inside a frame header (2 of 4 bytes) is INCOMPLETE too', T, async (t) => {
  const { logger, waitFor } = captureLogger();
  const { tcp } = await startEcho(t, { logger });
  const socket = await rawConnect(tcp);
  t.after(() => socket.destroy());
  const all = readAll(socket);
  socket.end(Buffer.from([0, 0]));
  await all;
  await waitFor((r) => r.event === 'close' && r.code === 'INCOMPLETE');
});

test(
  'EchoClient against a server at maxConnections gets BUSY; the admitted clients keep working',
  T,
  async (t) => {
    const { logger, waitFor } = captureLogger();
    const { server, tcp } = await startEcho(t, { tcp: { maxConnections: 2 }, logger });
    const first = await EchoClient.connect(tcp);
    t.after(() => {
      first.destroy();
    });
    const second = await EchoClient.connect(tcp);
    t.after(() => {
      second.destroy();
    });
    // Both admitted connections are live before the third arrives.
    assert.equal((await first.request(Buffer.from('one'))).toString(), 'ONE');
    assert.equal((await second.request(Buffer.from('two'))).toString(), 'TWO');
    assert.equal(server.connections, 2);

    const third = await EchoClient.connect(tcp); // TCP accepts; the service refuses
    t.after(() => {
      third.destroy();
    });
    const err = await rejectsWithCode(third.request(Buffer.from('three')), 'BUSY');
    assert.match(err.message, /limit of 2 connections/);
    await waitFor((r) => r.event === 'refused' && r.code === 'BUSY');

    assert.equal((await first.request(Buffer.from('one again'))).toString(), 'ONE AGAIN');
    assert.equal((await second.request(Buffer.from('two again'))).toString(), 'TWO AGAIN');

    // A raw (nc-style) client gets the same notice as one text line.
    const raw = await rawConnect(tcp);
    t.after(() => raw.destroy());
    assert.match((await readAll(raw)).toString(), /^error BUSY: [^\n]+\n$/);

    // Once a slot frees up, a new client is served.
    await first.close();
    const fourth = await EchoClient.connect(tcp);
    t.after(() => {
      fourth.destroy();
    });
    assert.equal((await fourth.request(Buffer.from('four'))).toString(), 'FOUR');
  },
);

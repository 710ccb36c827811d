import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { EchoClient } from '../../../src/index.js';
import { startEcho } from '../../helpers/echo.js';
import { FrameReader, upperAscii, writeByteByByte } from '../../helpers/frames.js';
import { frame, rawConnect } from '../../helpers/net.js';

const T = { timeout: 20_000 };

test(
  'framed u32be: a frame is answered by one frame with ASCII letters upper-cased',
  T,
  async (t) => {
    const { tcp } = await startEcho(t);
    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    const reader = new FrameReader(socket);

    // Every byte value 0-255 once: only a-z may change.
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    socket.write(frame('hello, World 123'));
    socket.write(frame(all));
    socket.write(frame('héllo wörld ß')); // UTF-8: only the ASCII letters change
    const [a, b, c] = await reader.take(3);
    assert.equal(a!.toString(), 'HELLO, WORLD 123');
    assert.deepEqual(b, upperAscii(all));
    assert.deepEqual(c, Buffer.from('HéLLO WöRLD ß'));
  },
);

test(
  'framed u32be: a zero-length frame is a valid empty message and gets an empty reply',
  T,
  async (t) => {
    const { tcp } = await startEcho(t);
    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    const reader = new FrameReader(socket);
    socket.write(frame(''));
    socket.write(frame('after'));
    const [empty, after] = await reader.take(2);
    assert.equal(empty!.length, 0);
    assert.equal(after!.toString(), 'AFTER');

    // The wire bytes themselves: exactly a 4-byte zero header for the empty reply.
    const raw = await rawConnect(tcp);
    t.after(() => raw.destroy());
    const got = new Promise<Buffer>((resolve) => raw.once('data', resolve));
    raw.end(Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(await got, Buffer.from([0, 0, 0, 0]));
  },
);

test(
  'framed u32be: large frames inside one read and split across reads, both reply modes: every reply byte-exact',
  T,
  async (t) => {
    // A large reply's header is written into the 4 bytes before its payload
    // (the request's own header, or the assembly buffer's headroom): no
    // neighbouring frame may be touched, however the stream is cut.
    const sizes = [5000, 70_000, 3, 4096, 65_536, 4095, 100_000, 0, 8192];
    const payloads = sizes.map((n) => randomBytes(n));
    const wire = Buffer.concat(payloads.map((p) => frame(p)));
    for (const reply of ['upper', 'echo'] as const) {
      const { tcp } = await startEcho(t, { reply });
      for (const step of [wire.length, 70_003, 16_384, 4097]) {
        const socket = await rawConnect(tcp);
        t.after(() => socket.destroy());
        const reader = new FrameReader(socket);
        for (let at = 0; at < wire.length; at += step) socket.write(wire.subarray(at, at + step));
        const replies = await reader.take(payloads.length);
        assert.deepEqual(
          replies,
          payloads.map((p) => (reply === 'upper' ? upperAscii(p) : p)),
          `${reply}, writes of ${step} bytes`,
        );
        socket.destroy();
      }
    }
  },
);

test('framed u32be: a multi-MiB frame round-trips intact', T, async (t) => {
  const { tcp } = await startEcho(t);
  const client = await EchoClient.connect(tcp);
  t.after(() => {
    client.destroy();
  });
  const payload = randomBytes(6 * 1024 * 1024);
  const reply = await client.request(payload);
  assert.equal(reply.length, payload.length);
  assert.ok(reply.equals(upperAscii(payload)), 'reply differs from the upper-cased payload');
  // The connection still works after the big one.
  assert.equal((await client.request(Buffer.from('small'))).toString(), 'SMALL');
});

test('framed u32be: frames written one byte at a time are reassembled', T, async (t) => {
  const { tcp } = await startEcho(t);
  const socket = await rawConnect(tcp);
  t.after(() => socket.destroy());
  socket.setNoDelay(true);
  const reader = new FrameReader(socket);
  const messages = ['a', '', 'split across many writes', 'xyz'];
  await writeByteByByte(socket, Buffer.concat(messages.map((m) => frame(m))));
  const replies = await reader.take(messages.length);
  assert.deepEqual(
    replies.map((r) => r.toString()),
    messages.map((m) => m.toUpperCase()),
  );
});

test(
  'framed u32be: many frames coalesced in one write each get their own reply, in order',
  T,
  async (t) => {
    const { tcp } = await startEcho(t);
    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    const reader = new FrameReader(socket);
    const messages = Array.from({ length: 1000 }, (_, i) => `message ${i} ${'z'.repeat(i % 50)}`);
    socket.write(Buffer.concat(messages.map((m) => frame(m))));
    const replies = await reader.take(messages.length);
    assert.deepEqual(
      replies.map((r) => r.toString()),
      messages.map((m) => m.toUpperCase()),
    );
  },
);

test('framed u32be: a header split across writes (1+3, 2+2, 3+1) is handled', T, async (t) => {
  const { tcp } = await startEcho(t);
  const socket = await rawConnect(tcp);
  t.after(() => socket.destroy());
  socket.setNoDelay(true);
  const reader = new FrameReader(socket);
  for (const cut of [1, 2, 3]) {
    const bytes = frame(`cut at ${cut}`);
    socket.write(bytes.subarray(0, cut));
    await new Promise<void>((resolve) =>
      socket.write(bytes.subarray(cut), () => {
        resolve();
      }),
    );
    assert.equal((await reader.next()).toString(), `CUT AT ${cut}`);
  }
});

test(
  'framed u32be: a client that sends FIN after whole frames gets all replies, then a clean close',
  T,
  async (t) => {
    const { tcp } = await startEcho(t);
    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    const reader = new FrameReader(socket);
    socket.end(Buffer.concat([frame('one'), frame('two')]));
    const [one, two] = await reader.take(2);
    assert.equal(one!.toString(), 'ONE');
    assert.equal(two!.toString(), 'TWO');
    const rest = await reader.closed;
    assert.equal(rest.length, 0, `unexpected trailing bytes: ${rest.toString('latin1')}`);
  },
);

test(
  'auto: a legal frame of exactly maxFrame (16 MiB) as the first frame is served framed',
  T,
  async (t) => {
    const { tcp } = await startEcho(t); // auto, default maxFrame 16 MiB
    const client = await EchoClient.connect(tcp, { timeoutMs: 3_000 });
    t.after(() => client.destroy());
    const reply = await client.request(Buffer.alloc(16 * 1024 * 1024, 'a'));
    assert.equal(reply.length, 16 * 1024 * 1024);
  },
);

test('EchoClient in raw mode: a 12 MiB line round-trips', T, async (t) => {
  const { tcp } = await startEcho(t);
  const client = await EchoClient.connect(tcp, { framing: 'raw', timeoutMs: 3_000 });
  t.after(() => client.destroy());
  const reply = await client.request(Buffer.alloc(12 * 1024 * 1024, 'r'));
  assert.equal(reply.length, 12 * 1024 * 1024);
});

test(
  'framed u32be: a reply waiting in a blocked socket keeps its bytes while other clients echo large frames',
  T,
  async (t) => {
    // Split frames are assembled in buffers shared through a pool; one may go
    // back only once its reply has left for the kernel. Client A stops
    // reading, so its replies wait in the server; client B churns the pool.
    const { tcp } = await startEcho(t, { reply: 'echo' });
    const a = await rawConnect(tcp);
    const b = await rawConnect(tcp);
    t.after(() => {
      a.destroy();
      b.destroy();
    });
    const payloads = (count: number, seed: number): Buffer[] =>
      Array.from({ length: count }, (_, i) =>
        Buffer.alloc(20_000 + ((i * 7_919) % 45_000), seed + i),
      );
    a.pause();
    const fromA = payloads(480, 0); // ~20 MB: more than loopback's buffers hold
    a.write(Buffer.concat(fromA.map((p) => frame(p))));
    const readerB = new FrameReader(b);
    for (let round = 0; round < 40; round++) {
      const fromB = payloads(20, 100 + round);
      b.write(Buffer.concat(fromB.map((p) => frame(p))));
      const replies = await readerB.take(fromB.length);
      replies.forEach((reply, i) =>
        assert.ok(reply.equals(fromB[i]!), `B: round ${round}, frame ${i}`),
      );
    }
    const readerA = new FrameReader(a);
    a.resume();
    const replies = await readerA.take(fromA.length);
    replies.forEach((reply, i) =>
      assert.ok(reply.equals(fromA[i]!), `A: frame ${i} came back intact`),
    );
  },
);

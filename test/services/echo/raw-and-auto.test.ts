import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EchoClient } from '../../../src/index.js';
import { startEcho } from '../../helpers/echo.js';
import { FrameReader, upperAscii } from '../../helpers/frames.js';
import { frame, rawConnect, readAll, readBytes } from '../../helpers/net.js';

const T = { timeout: 20_000 };

test(
  'raw text: bytes come back upper-cased as they arrive, other bytes untouched',
  T,
  async (t) => {
    const { tcp } = await startEcho(t);
    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    const text = Buffer.from('hello, wörld! 42 {}[] ~\tend\r\n');
    socket.write(text);
    // No line or frame semantics: the reply arrives without our closing anything.
    const reply = await readBytes(socket, text.length);
    assert.deepEqual(reply, Buffer.from('HELLO, WöRLD! 42 {}[] ~\tEND\r\n'));
  },
);

test(
  'raw text: every non-NUL first byte selects raw mode; all 255 other byte values survive',
  T,
  async (t) => {
    const { tcp } = await startEcho(t);
    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    // Starts with 0xff (not NUL, so raw), then every byte value, NUL included.
    const bytes = Buffer.concat([
      Buffer.from([0xff]),
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    ]);
    const all = readAll(socket);
    socket.end(bytes);
    assert.deepEqual(await all, upperAscii(bytes));
  },
);

test('raw text: a partial line is answered at once, and FIN closes cleanly', T, async (t) => {
  const { tcp } = await startEcho(t);
  const socket = await rawConnect(tcp);
  t.after(() => socket.destroy());
  socket.write('no newline yet');
  assert.equal((await readBytes(socket, 14)).toString(), 'NO NEWLINE YET');
  const rest = readAll(socket);
  socket.end('bye\n');
  assert.equal((await rest).toString(), 'BYE\n');
});

test('auto: framed and raw clients are served on the same port at the same time', T, async (t) => {
  const { tcp } = await startEcho(t); // framing defaults to auto
  const framed = await EchoClient.connect(tcp);
  t.after(() => {
    framed.destroy();
  });
  const raw = await rawConnect(tcp);
  t.after(() => raw.destroy());
  const framedRaw = await rawConnect(tcp);
  t.after(() => framedRaw.destroy());
  const reader = new FrameReader(framedRaw);

  const expectedRaw = Array.from({ length: 50 }, (_, i) => `RAW ${i}\n`).join('');
  const rawReply = readBytes(raw, expectedRaw.length);
  // Interleave all three clients.
  const pending: Promise<Buffer>[] = [];
  for (let i = 0; i < 50; i++) {
    pending.push(framed.request(Buffer.from(`framed ${i}`)));
    raw.write(`raw ${i}\n`);
    framedRaw.write(frame(`by hand ${i}`));
  }
  const framedReplies = await Promise.all(pending);
  assert.deepEqual(
    framedReplies.map((r) => r.toString()),
    Array.from({ length: 50 }, (_, i) => `FRAMED ${i}`),
  );
  const byHand = await reader.take(50);
  assert.deepEqual(
    byHand.map((r) => r.toString()),
    Array.from({ length: 50 }, (_, i) => `BY HAND ${i}`),
  );
  assert.equal((await rawReply).toString(), expectedRaw);
});

test('auto: a u32le client is never guessed; its bytes are treated as raw text', T, async (t) => {
  const { tcp } = await startEcho(t);
  const socket = await rawConnect(tcp);
  t.after(() => socket.destroy());
  const le = frame('hi', true); // 02 00 00 00 'h' 'i': first byte is not NUL
  const all = readAll(socket);
  socket.end(le);
  assert.deepEqual(await all, Buffer.from([2, 0, 0, 0, 0x48, 0x49]));
});

test('u32le listener: little-endian frames round-trip (EchoClient and by hand)', T, async (t) => {
  const { tcp } = await startEcho(t, { framing: 'u32le' });
  const client = await EchoClient.connect(tcp, { framing: 'u32le' });
  t.after(() => {
    client.destroy();
  });
  assert.equal((await client.request(Buffer.from('little endian'))).toString(), 'LITTLE ENDIAN');
  assert.equal((await client.request(Buffer.alloc(0))).length, 0);
  const big = Buffer.alloc(70_000, 'q'); // a length whose LE and BE readings differ in every byte
  assert.ok((await client.request(big)).equals(Buffer.alloc(70_000, 'Q')));

  const socket = await rawConnect(tcp);
  t.after(() => socket.destroy());
  const reader = new FrameReader(socket, 'u32le');
  socket.write(Buffer.concat([frame('one', true), frame('two', true)]));
  const replies = await reader.take(2);
  assert.deepEqual(
    replies.map((r) => r.toString()),
    ['ONE', 'TWO'],
  );
  // The reply header itself is little-endian.
  const wire = await rawConnect(tcp);
  t.after(() => wire.destroy());
  const got = readAll(wire);
  wire.end(frame('abc', true));
  assert.deepEqual(await got, Buffer.from([3, 0, 0, 0, 0x41, 0x42, 0x43]));
});

test(
  'raw listener: a first byte of NUL is not taken as a frame when framing is raw',
  T,
  async (t) => {
    const { tcp } = await startEcho(t, { framing: 'raw' });
    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    const all = readAll(socket);
    socket.end(frame('ab'));
    assert.deepEqual(await all, Buffer.from([0, 0, 0, 2, 0x41, 0x42]));
  },
);

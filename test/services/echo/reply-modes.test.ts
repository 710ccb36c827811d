import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { EchoClient, type Address } from '../../../src/index.js';
import { startEcho } from '../../helpers/echo.js';
import { FrameReader } from '../../helpers/frames.js';
import { frame, portOf, rawConnect, readAll, readBytes } from '../../helpers/net.js';

const T = { timeout: 20_000 };

/** A plain dgram socket that collects replies in arrival order. */
async function udpPeer(
  t: TestContext,
  server: Address | undefined,
): Promise<{ send: (m: string | Buffer) => void; next: () => Promise<Buffer> }> {
  const port = portOf(server);
  const socket: UdpSocket = createSocket('udp4');
  t.after(() => {
    socket.close();
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const queue: Buffer[] = [];
  let waiting: ((b: Buffer) => void) | undefined;
  socket.on('message', (msg: Buffer) => {
    const w = waiting;
    waiting = undefined;
    if (w) w(msg);
    else queue.push(msg);
  });
  return {
    send: (m) => {
      socket.send(typeof m === 'string' ? Buffer.from(m) : m, port, '127.0.0.1');
    },
    next: () => {
      const first = queue.shift();
      if (first) return Promise.resolve(first);
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
  };
}

test('reply echo: framed and raw TCP get their bytes back unchanged', T, async (t) => {
  const { tcp } = await startEcho(t, { reply: 'echo' });
  const client = await EchoClient.connect(tcp);
  t.after(() => {
    client.destroy();
  });
  assert.equal((await client.request(Buffer.from('Mixed Case 1'))).toString(), 'Mixed Case 1');
  assert.equal((await client.request(Buffer.alloc(0))).length, 0);

  const raw = await rawConnect(tcp);
  t.after(() => raw.destroy());
  const all = readAll(raw);
  raw.end('Keep My Case\n');
  assert.equal((await all).toString(), 'Keep My Case\n');
});

test('reply upper and echo on UDP: each datagram answered by its copy', T, async (t) => {
  const upper = await startEcho(t, { reply: 'upper' });
  const echo = await startEcho(t, { reply: 'echo' });
  const toUpper = await udpPeer(t, upper.udp);
  toUpper.send('Hello UDP ü');
  assert.equal((await toUpper.next()).toString(), 'HELLO UDP ü');
  toUpper.send(Buffer.alloc(0));
  assert.equal((await toUpper.next()).length, 0);
  const toEcho = await udpPeer(t, echo.udp);
  toEcho.send('Hello UDP');
  assert.equal((await toEcho.next()).toString(), 'Hello UDP');
});

test(
  'reply hello, raw TCP: Welcome! greeting, "Hello, <msg>!" per line, exit closes',
  T,
  async (t) => {
    const { tcp } = await startEcho(t, { reply: 'hello' }); // framing auto: hello must speak first, so raw
    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    const all = readAll(socket);
    socket.write('bob\n');
    socket.write('alice\r\n'); // telnet-style CRLF
    socket.write('exit\n');
    // We never send FIN: the server closes on "exit".
    assert.equal((await all).toString(), 'Welcome!\nHello, bob!\nHello, alice!\n');
  },
);

test(
  'reply hello, raw TCP: a message without a line end is answered after the pause, without one',
  T,
  async (t) => {
    const { tcp } = await startEcho(t, { reply: 'hello' });
    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    assert.equal((await readBytes(socket, 9)).toString(), 'Welcome!\n');
    socket.write('Michael');
    assert.equal((await readBytes(socket, 15)).toString(), 'Hello, Michael!');
    socket.write('Tracy\n'); // a line end gets one back, at once
    assert.equal((await readBytes(socket, 14)).toString(), 'Hello, Tracy!\n');
    const all = readAll(socket);
    socket.write('exit'); // closes without a line end too
    assert.equal((await all).length, 0);
  },
);

test('reply hello, raw TCP: one line split across two reads is still one message', T, async (t) => {
  // A long settle, so the pause between the two writes is surely shorter:
  // the server has read 'Mich' alone and waits for the rest of the line.
  const { tcp } = await startEcho(t, { reply: 'hello', lineSettleMs: 2_000 });
  const socket = await rawConnect(tcp);
  t.after(() => socket.destroy());
  assert.equal((await readBytes(socket, 9)).toString(), 'Welcome!\n');
  const all = readAll(socket);
  socket.write('Mich');
  await new Promise((resolve) => setTimeout(resolve, 100)); // two TCP segments, not one
  socket.write('ael\nexit\n');
  assert.equal((await all).toString(), 'Hello, Michael!\n');
});

test('reply hello, raw TCP: the greeting arrives before the client says anything', T, async (t) => {
  const { tcp } = await startEcho(t, { reply: 'hello' });
  const socket = await rawConnect(tcp);
  t.after(() => socket.destroy());
  assert.equal((await readBytes(socket, 9)).toString(), 'Welcome!\n');
});

test(
  'reply hello, framed TCP (u32be listener): greeting frame, reply frames, exit closes',
  T,
  async (t) => {
    const { tcp } = await startEcho(t, { reply: 'hello', framing: 'u32be' });
    const socket = await rawConnect(tcp);
    t.after(() => socket.destroy());
    const reader = new FrameReader(socket);
    assert.equal((await reader.next()).toString(), 'Welcome!');
    socket.write(Buffer.concat([frame('bob'), frame(''), frame('exit'), frame('never answered')]));
    const [bob, empty] = await reader.take(2);
    assert.equal(bob!.toString(), 'Hello, bob!');
    assert.equal(empty!.toString(), 'Hello, !');
    const rest = await reader.closed;
    assert.equal(rest.length, 0, 'nothing is sent after exit');
  },
);

test(
  'reply hello, UDP: "Hello, <msg>!" with the line end stripped; exit gets no answer',
  T,
  async (t) => {
    const { udp } = await startEcho(t, { reply: 'hello' });
    const peer = await udpPeer(t, udp);
    peer.send('bob\n'); // what `nc -u` sends
    assert.equal((await peer.next()).toString(), 'Hello, bob!');
    peer.send('exit\n');
    peer.send('after');
    // Loopback keeps datagram order: had "exit" been answered, that answer would come first.
    assert.equal((await peer.next()).toString(), 'Hello, after!');
  },
);

test(
  'EchoClient against a hello server: the greeting is unsolicited, replies pair with requests',
  T,
  async (t) => {
    for (const framing of ['raw', 'u32be'] as const) {
      const { tcp } = await startEcho(t, {
        reply: 'hello',
        framing: framing === 'raw' ? 'auto' : 'u32be',
      });
      const unsolicited: string[] = [];
      const client = await EchoClient.connect(tcp, {
        framing,
        onUnsolicited: (m) => unsolicited.push(m.toString()),
      });
      t.after(() => {
        client.destroy();
      });
      // Requests are sent at once, before the greeting has necessarily arrived.
      const replies = await Promise.all([
        client.request(Buffer.from('bob')),
        client.request(Buffer.from('alice')),
      ]);
      assert.deepEqual(
        replies.map((r) => r.toString()),
        ['Hello, bob!', 'Hello, alice!'],
        `${framing}: each reply answers its own request`,
      );
      assert.deepEqual(
        unsolicited,
        ['Welcome!'],
        `${framing}: the greeting is reported separately`,
      );
    }
  },
);

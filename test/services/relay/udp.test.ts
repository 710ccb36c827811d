import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import {
  relayConnect,
  relayListen,
  type Address,
  type RelayListenOptions,
  type SockitError,
} from '../../../src/index.js';
import { MemoryIo } from '../../helpers/relay.js';

const T = { timeout: 20_000 };

/** A test-only UDP socket on loopback, closed in teardown, that records what it receives. */
async function udpPeer(
  t: TestContext,
  host = '127.0.0.1',
): Promise<{ socket: Socket; address: Address; received: Buffer[]; next: () => Promise<Buffer> }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  t.after(() => {
    try {
      socket.close();
    } catch {
      // the test closed it already
    }
  });
  socket.bind(0, host);
  await once(socket, 'listening');
  const received: Buffer[] = [];
  const waiting: ((b: Buffer) => void)[] = [];
  let taken = 0;
  socket.on('message', (msg) => {
    received.push(msg);
    const w = waiting.shift();
    if (w) w(received[taken++]!);
  });
  const next = (): Promise<Buffer> => {
    if (taken < received.length) return Promise.resolve(received[taken++]!);
    return new Promise((resolve) => waiting.push(resolve));
  };
  return { socket, address: { kind: 'inet', host, port: socket.address().port }, received, next };
}

/** Sends one datagram from `from` to `to`. */
async function sendTo(from: Socket, to: Address, data: string | Buffer): Promise<void> {
  if (to.kind !== 'inet') throw new Error('inet only');
  await new Promise<void>((resolve, reject) => {
    from.send(data, to.port, to.host, (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
}

async function listenUdp(
  t: TestContext,
  options: RelayListenOptions = {},
  host = '127.0.0.1',
): Promise<{ io: MemoryIo; address: Address; done: Promise<void> }> {
  const io = new MemoryIo();
  const listener = await relayListen(
    { kind: 'inet', host, port: 0 },
    { udp: true, ...options },
    io,
  );
  t.after(() => listener.close());
  return { io, address: listener.address, done: listener.done };
}

describe('relayConnect --udp', () => {
  it('stdin goes out as datagrams; replies are printed; done after the linger', T, async (t) => {
    const peer = await udpPeer(t);
    peer.socket.on('message', (msg, rinfo) => {
      peer.socket.send(msg.toString().toUpperCase(), rinfo.port, rinfo.address);
    });
    const io = new MemoryIo();
    const session = await relayConnect(peer.address, { udp: true, lingerMs: 300 }, io);
    io.input.write('first\n');
    await io.output.waitFor('FIRST\n');
    io.input.end('second\n');
    await session.done;
    assert.equal(io.output.text(), 'FIRST\nSECOND\n');
  });

  it('without --linger, waits about a second for replies after EOF', T, async (t) => {
    const peer = await udpPeer(t);
    const io = new MemoryIo();
    const session = await relayConnect(peer.address, { udp: true }, io);
    const start = performance.now();
    io.input.end('ping');
    await session.done;
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 900 && elapsed < 5_000, `waited ${elapsed} ms`);
    assert.equal((await peer.next()).toString(), 'ping');
  });

  it('a stdin chunk larger than a datagram is cut at 65 507 bytes', T, async (t) => {
    const peer = await udpPeer(t);
    const io = new MemoryIo();
    const session = await relayConnect(peer.address, { udp: true, lingerMs: 0 }, io);
    io.input.end(Buffer.alloc(100_000, 0x78));
    const sizes = [(await peer.next()).length, (await peer.next()).length];
    await session.done;
    assert.deepEqual(sizes, [65_507, 100_000 - 65_507]);
  });

  it('ICMP port unreachable fails the relay with CONNECTION_REFUSED', T, async (t) => {
    const peer = await udpPeer(t);
    const closedAddress = peer.address;
    peer.socket.close(); // nobody there now: the kernel answers with ICMP port unreachable
    const io = new MemoryIo();
    const session = await relayConnect(closedAddress, { udp: true, lingerMs: 2_000 }, io);
    io.input.write('anyone?');
    await assert.rejects(session.done, (err: unknown) => {
      assert.equal((err as SockitError).code, 'CONNECTION_REFUSED');
      return true;
    });
  });

  it('--show-reads and --hex: one read per datagram', T, async (t) => {
    const peer = await udpPeer(t, '::1');
    peer.socket.on('message', (msg, rinfo) => {
      peer.socket.send(Buffer.concat([msg, msg]), rinfo.port, rinfo.address);
    });
    const io = new MemoryIo();
    const session = await relayConnect(
      peer.address,
      { udp: true, lingerMs: 200, showReads: true, hex: true },
      io,
    );
    io.input.end('ab');
    await session.done;
    assert.equal(io.output.text(), 'abab');
    assert.deepEqual(
      io.eventsOf('read').map((e) => [e.report.read, e.report.bytes]),
      [[1, 4]],
    );
    assert.deepEqual(
      io.eventsOf('dump').map((e) => [e.direction, e.bytes.toString()]),
      [
        ['sent', 'ab'],
        ['received', 'abab'],
      ],
    );
  });
});

describe('relayListen --udp', () => {
  it(
    'serves the first peer: its datagrams printed, stdin sent to it; others BUSY',
    T,
    async (t) => {
      const { io, address } = await listenUdp(t);
      const first = await udpPeer(t);
      const other = await udpPeer(t);
      await sendTo(first.socket, address, 'hello from first\n');
      await io.output.waitFor('hello from first\n');
      io.input.write('to the first peer\n');
      assert.equal((await first.next()).toString(), 'to the first peer\n');
      await sendTo(other.socket, address, 'me too\n');
      const refused = await io.waitForEvent('refused');
      assert.equal(refused.code, 'BUSY');
      assert.match(refused.message, /--keep-open/);
      assert.ok(!io.output.text().includes('me too'));
    },
  );

  it('--keep-open: several peers; stdin goes to each of them', T, async (t) => {
    const { io, address } = await listenUdp(t, { keepOpen: true }, '::1');
    const a = await udpPeer(t, '::1');
    const b = await udpPeer(t, '::1');
    await sendTo(a.socket, address, 'a\n');
    await io.output.waitFor('a\n');
    await sendTo(b.socket, address, 'b\n');
    await io.output.waitFor('b\n');
    io.input.write('to all\n');
    assert.equal((await a.next()).toString(), 'to all\n');
    assert.equal((await b.next()).toString(), 'to all\n');
    assert.equal(io.eventsOf('connect').length, 2);
  });

  it('--keep-open --max-conns 1 and --deny refuse datagrams, unprinted', T, async (t) => {
    const { io, address } = await listenUdp(t, {
      keepOpen: true,
      maxConns: 1,
      deny: ['127.0.0.2'],
    });
    const a = await udpPeer(t);
    const b = await udpPeer(t);
    const denied = await udpPeer(t, '127.0.0.2');
    await sendTo(a.socket, address, 'a');
    await io.output.waitFor('a');
    await sendTo(b.socket, address, 'b');
    await sendTo(denied.socket, address, 'c');
    await io.waitForEvent('refused', () => io.eventsOf('refused').length === 2);
    assert.deepEqual(
      io
        .eventsOf('refused')
        .map((e) => e.code)
        .sort(),
      ['ACCESS_DENIED', 'BUSY'],
    );
    assert.equal(io.output.text(), 'a');
  });

  it('--linger after stdin EOF ends a UDP listener', T, async (t) => {
    const { io, address, done } = await listenUdp(t, { lingerMs: 100 });
    const peer = await udpPeer(t);
    await sendTo(peer.socket, address, 'x');
    await io.output.waitFor('x');
    io.input.end('bye');
    assert.equal((await peer.next()).toString(), 'bye');
    await done;
    assert.equal(io.output.text(), 'x');
  });
});

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import {
  FrameDecoder,
  FrameWriter,
  TcpServer,
  encodeTextNotice,
  type CloseInfo,
  type Connection,
  type TcpServerOptions,
} from '../../src/index.js';
import { LOOPBACK, closed, frame, rawConnect, readAll, readBytes } from '../helpers/net.js';

/** A framed echo on the bare transport, recording how each connection ended. */
async function framedEcho(t: TestContext, options: TcpServerOptions = {}) {
  const ended: CloseInfo[] = [];
  const conns: Connection[] = [];
  const server = new TcpServer(
    (conn) => {
      conns.push(conn);
      const writer = new FrameWriter(conn);
      const decoder = new FrameDecoder((p) => {
        writer.send(p);
      });
      conn.start({
        data: (c) => decoder.push(c),
        inMessage: () => decoder.inFrame,
        notice: (err) => encodeTextNotice(err.code, err.message),
        close: (info) => ended.push(info),
      });
    },
    { busyNotice: (err) => encodeTextNotice(err.code, err.message), ...options },
  );
  t.after(() => server.close(0));
  const address = await server.listen(LOOPBACK);
  return { server, address, ended, conns };
}

async function roundTrip(socket: import('node:net').Socket, text: string): Promise<string> {
  const reply = readBytes(socket, 4 + Buffer.byteLength(text));
  socket.write(frame(text));
  return (await reply).subarray(4).toString();
}

describe('TCP server limits', () => {
  it('serves many clients at once', async (t) => {
    const { address } = await framedEcho(t);
    const sockets = await Promise.all(Array.from({ length: 50 }, () => rawConnect(address)));
    t.after(() => sockets.forEach((s) => s.destroy()));
    const replies = await Promise.all(sockets.map((s, i) => roundTrip(s, `client ${i}`)));
    assert.deepEqual(
      replies,
      sockets.map((_, i) => `client ${i}`),
    );
  });

  it('past maxConnections a client gets BUSY and is closed; the others are unaffected', async (t) => {
    const { address, server } = await framedEcho(t, { maxConnections: 4 });
    const first = await Promise.all(Array.from({ length: 4 }, () => rawConnect(address)));
    t.after(() => first.forEach((s) => s.destroy()));
    await Promise.all(first.map((s) => roundTrip(s, 'in'))); // all four are being served
    const extra = await Promise.all([rawConnect(address), rawConnect(address)]);
    const notices = await Promise.all(extra.map(readAll));
    for (const notice of notices)
      assert.match(notice.toString(), /^error BUSY: .*4 connections\n$/);
    assert.deepEqual(
      await Promise.all(first.map((s, i) => roundTrip(s, `still ${i}`))),
      first.map((_, i) => `still ${i}`),
    );
    assert.equal(server.connections, 4);
  });

  it('an idle connection is really closed after idleTimeoutMs', async (t) => {
    const { address, conns } = await framedEcho(t, { idleTimeoutMs: 200 });
    const socket = await rawConnect(address);
    const received = await readAll(socket); // resolves on close
    assert.match(received.toString(), /^error IDLE_TIMEOUT/);
    assert.equal((await conns[0]?.whenClosed)?.error?.code, 'IDLE_TIMEOUT');
  });

  it('a frame trickled a byte at a time is cut at messageTimeoutMs even though the peer is not idle (slowloris)', async (t) => {
    const { address, conns } = await framedEcho(t, { idleTimeoutMs: 5_000, messageTimeoutMs: 300 });
    const socket = await rawConnect(address);
    const received = readAll(socket);
    const slow = frame('x'.repeat(100));
    let i = 0;
    const drip = setInterval(() => {
      if (i < slow.length && !socket.destroyed) socket.write(slow.subarray(i, ++i));
    }, 50);
    t.after(() => clearInterval(drip));
    assert.match((await received).toString(), /error FRAME_TIMEOUT/);
    clearInterval(drip);
    assert.equal((await conns[0]?.whenClosed)?.error?.code, 'FRAME_TIMEOUT');
    assert.ok(i < slow.length, 'closed before the frame could finish');
  });

  it('complete frames keep resetting nothing: a steady client is never cut by the frame deadline', async (t) => {
    const { address } = await framedEcho(t, { messageTimeoutMs: 100 });
    const socket = await rawConnect(address);
    t.after(() => socket.destroy());
    for (let i = 0; i < 5; i++) assert.equal(await roundTrip(socket, `m${i}`), `m${i}`);
  });

  it('a client that sends but never reads is cut SLOW_CONSUMER, with server buffering bounded', async (t) => {
    const maxPendingWrite = 1024 * 1024;
    const { address, conns } = await framedEcho(t, { maxPendingWrite, writeTimeoutMs: 300 });
    const socket = await rawConnect(address);
    socket.pause(); // never reads
    const done = closed(socket);
    const payload = frame(Buffer.alloc(60 * 1024, 1));
    let maxPending = 0;
    const pump = (): void => {
      const conn = conns[0];
      if (conn) maxPending = Math.max(maxPending, conn.pendingWrite);
      while (!socket.destroyed && socket.write(payload)) {
        /* fill the pipe */
      }
    };
    socket.on('drain', pump);
    pump();
    await done;
    assert.equal((await conns[0]?.whenClosed)?.error?.code, 'SLOW_CONSUMER');
    assert.ok(maxPending <= maxPendingWrite + 64 * 1024, `server queued ${maxPending} bytes`);
  });

  it('a producer that ignores backpressure is cut as soon as maxPendingWrite is passed', async (t) => {
    const conns: Connection[] = [];
    const server = new TcpServer(
      (conn) => {
        conns.push(conn);
        conn.start({ data: () => undefined });
        const chunk = Buffer.alloc(256 * 1024);
        for (let i = 0; i < 64 && !conn.isClosed; i++) conn.write(chunk); // a broadcast that does not wait
      },
      { maxPendingWrite: 1024 * 1024 },
    );
    t.after(() => server.close(0));
    const socket = await rawConnect(await server.listen(LOOPBACK));
    t.after(() => socket.destroy());
    socket.pause(); // never reads, so it would not notice the close either: ask the server
    while (conns.length === 0) await new Promise((r) => setImmediate(r));
    assert.equal((await conns[0]?.whenClosed)?.error?.code, 'SLOW_CONSUMER');
  });

  it('a peer reset at any moment never crashes the server, and the count returns to zero', async (t) => {
    const { address, server } = await framedEcho(t);
    const big = frame(Buffer.alloc(2 * 1024 * 1024));
    const stages: ((s: import('node:net').Socket) => void)[] = [
      () => undefined, // right after connect
      (s) => s.write(frame('x').subarray(0, 2)), // mid-header
      (s) => s.write(frame('hello world').subarray(0, 8)), // mid-body
      (s) => s.write(big), // while the server is writing a large reply
    ];
    // (Not "RST after our own FIN": Node 20 leaks the client handle of end() + resetAndDestroy().)
    for (const stage of stages) {
      const socket = await rawConnect(address);
      stage(socket);
      socket.resetAndDestroy();
      await closed(socket);
    }
    const survivor = await rawConnect(address);
    t.after(() => survivor.destroy());
    assert.equal(await roundTrip(survivor, 'alive'), 'alive');
    survivor.destroy();
    while (server.connections > 0) await new Promise((r) => setImmediate(r));
    assert.equal(server.connections, 0);
  });

  it('a stream that ends mid-frame is INCOMPLETE at the server', async (t) => {
    const ended: Promise<CloseInfo>[] = [];
    const server = new TcpServer((conn) => {
      const decoder = new FrameDecoder(() => undefined);
      conn.start({
        data: (c) => decoder.push(c),
        end: () => {
          decoder.end();
          conn.end();
        },
      });
      ended.push(conn.whenClosed);
    });
    t.after(() => server.close(0));
    const socket = await rawConnect(await server.listen(LOOPBACK));
    socket.end(frame('0123456789').subarray(0, 7));
    await closed(socket);
    assert.equal((await ended[0])?.error?.code, 'INCOMPLETE');
  });

  it('close() refuses new clients at once, ends open ones, and cuts those that linger after the grace period', async (t) => {
    const { address, server, conns } = await framedEcho(t);
    const polite = await rawConnect(address);
    polite.on('end', () => polite.end()); // closes when the server finishes
    const stubborn = await rawConnect(address);
    stubborn.allowHalfOpen = true; // keeps its side open after the server's FIN
    t.after(() => stubborn.destroy());
    await Promise.all([roundTrip(polite, 'a'), roundTrip(stubborn, 'b')]);
    await Promise.all([closed(polite), server.close(300)]);
    assert.equal(server.connections, 0);
    const infos = await Promise.all(conns.map((c) => c.whenClosed));
    assert.ok(
      infos.some((e) => e.error?.code === 'SHUTTING_DOWN'),
      'the lingering client was cut',
    );
    await assert.rejects(rawConnect(address));
  });
});

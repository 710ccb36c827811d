import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import {
  NetworkError,
  ProtocolError,
  UsageError,
  relayConnect,
  type SockitError,
} from '../../../src/index.js';
import { tempDir } from '../../helpers/echo.js';
import { frame, readAll, jsonLines } from '../../helpers/net.js';
import { Capture, MemoryIo, peerServer } from '../../helpers/relay.js';

const T = { timeout: 20_000 };

function hasCode(code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof Error && 'code' in err, `expected a SockitError, got ${String(err)}`);
    assert.equal((err as SockitError).code, code);
    return true;
  };
}

describe('relayConnect over TCP: bytes and half-close', () => {
  it('relays 1 MiB of random bytes each way, byte for byte', T, async (t) => {
    const fromPeer = randomBytes(1024 * 1024);
    const fromUs = randomBytes(1024 * 1024);
    let received: Promise<Buffer> | undefined;
    const { address } = await peerServer(t, (socket) => {
      received = readAll(socket);
      socket.end(fromPeer);
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, {}, io);
    io.input.end(fromUs);
    await session.done;
    assert.ok(io.output.bytes().equals(fromPeer), 'stdout is exactly what the peer sent');
    assert.ok((await received!).equals(fromUs), 'the peer got exactly stdin');
    const close = await io.waitForEvent('close');
    assert.equal(close.bytesIn, fromPeer.length);
    assert.equal(close.bytesOut, fromUs.length);
    assert.equal(close.code, undefined);
  });

  it('stdin EOF sends FIN and keeps printing until the peer closes', T, async (t) => {
    const { address } = await peerServer(t, (socket) => {
      const got: Buffer[] = [];
      socket.on('data', (c: Buffer) => got.push(c));
      // Answers only once our side is finished, as a server reading to EOF would.
      socket.on('end', () => {
        socket.end(`you said ${Buffer.concat(got).toString()} and then FIN\n`);
      });
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, {}, io);
    io.input.end('request');
    await session.done;
    assert.equal(io.output.text(), 'you said request and then FIN\n');
  });

  it("the peer's FIN does not stop stdin from being sent", T, async (t) => {
    let received: Promise<Buffer> | undefined;
    const { address } = await peerServer(t, (socket) => {
      received = readAll(socket);
      socket.end('bye\n'); // FIN at once; still reading
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, {}, io);
    await io.output.waitFor('bye\n');
    io.input.write('sent after ');
    io.input.end("the peer's FIN");
    await session.done;
    assert.equal((await received!).toString(), "sent after the peer's FIN");
  });

  it('--linger: quits that long after stdin EOF although the peer never closes', T, async (t) => {
    const { address } = await peerServer(t, (socket) => {
      socket.resume(); // reads, never ends
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, { lingerMs: 100 }, io);
    const start = performance.now();
    io.input.end('x');
    await session.done; // resolves: quitting after the linger is not an error
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 90 && elapsed < 5_000, `quit after ${elapsed} ms`);
  });

  it('--send-only drops what the peer sends; --recv-only never reads stdin', T, async (t) => {
    let received: Promise<Buffer> | undefined;
    const { address } = await peerServer(t, (socket) => {
      received = readAll(socket);
      socket.end('ignored\n');
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, { sendOnly: true }, io);
    io.input.end('only this way');
    await session.done;
    assert.equal(io.output.text(), '');
    assert.equal((await received!).toString(), 'only this way');

    const io2 = new MemoryIo();
    io2.input.write('never sent');
    const recv = await relayConnect(address, { recvOnly: true }, io2);
    await recv.done; // the peer's FIN ends it: we have nothing to send
    assert.equal(io2.output.text(), 'ignored\n');
    assert.equal((await received!).toString(), '', 'nothing was sent');
    assert.equal(io2.input.readableLength, 'never sent'.length, 'stdin was not read');
  });

  it('over a Unix socket too', T, async (t) => {
    const path = join(await tempDir(t), 'peer.sock');
    const { address } = await peerServer(
      t,
      (socket) => {
        socket.on('data', (c: Buffer) => socket.write(c.toString().toUpperCase()));
        socket.on('end', () => socket.end());
      },
      { path },
    );
    const io = new MemoryIo();
    const session = await relayConnect(address, {}, io);
    io.input.end('over unix');
    await session.done;
    assert.equal(io.output.text(), 'OVER UNIX');
  });

  it('over IPv6 loopback', T, async (t) => {
    const { address } = await peerServer(t, (socket) => socket.end('v6\n'), { host: '::1' });
    const io = new MemoryIo();
    const session = await relayConnect(address, {}, io);
    io.input.end();
    await session.done;
    assert.equal(io.output.text(), 'v6\n');
    assert.match((await io.waitForEvent('connect')).peer, /^\[::1\]:\d+$/);
  });
});

describe('relayConnect over TCP: backpressure', () => {
  it('a stdout that does not drain pauses reading from the socket', T, async (t) => {
    const total = 8 * 1024 * 1024;
    let sawBackpressure = false;
    const { address } = await peerServer(t, (socket) => {
      const chunk = Buffer.alloc(64 * 1024, 0x5a);
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          sent += chunk.length;
          if (!socket.write(chunk)) {
            sawBackpressure = true;
            socket.once('drain', pump);
            return;
          }
        }
        socket.end();
      };
      pump();
      socket.resume();
    });
    // A slow stdout: 64 KiB buffer, each write taking a turn of the event loop.
    let written = 0;
    const slow = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _enc, done) {
        written += chunk.length;
        setImmediate(done);
      },
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, {}, { input: io.input, output: slow });
    io.input.end();
    await session.done;
    assert.equal(written, total);
    assert.ok(sawBackpressure, 'the peer had to wait: we stopped reading while stdout was full');
  });

  it('a peer that does not read pauses stdin: it is not read ahead without bound', T, async (t) => {
    let peer: import('node:net').Socket | undefined;
    const { address } = await peerServer(t, (socket) => {
      peer = socket;
      socket.pause(); // reads nothing for now
    });
    let produced = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const input = new Readable({
      read() {
        produced += chunk.length;
        this.push(chunk);
      },
    });
    const output = new Capture();
    const session = await relayConnect(address, {}, { input, output });
    t.after(() => session.close());
    // No event says "stdin is no longer read": poll until the count stops moving.
    const first = await steady(() => produced);
    assert.ok(first < 64 * 1024 * 1024, `read ahead ${first} bytes`);
    // The peer reads again: the socket drains and stdin flows again.
    peer!.resume();
    await until(() => produced > first);
  });
});

/** Polls `value` every 50 ms until it is unchanged three times in a row; returns it. */
async function steady(value: () => number): Promise<number> {
  let last = -1;
  let same = 0;
  while (same < 3) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = value();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('relayConnect --frames', () => {
  it('each stdin line is one frame; each received frame one line', T, async (t) => {
    let received: Promise<Buffer> | undefined;
    const { address } = await peerServer(t, (socket) => {
      received = readAll(socket);
      socket.end(Buffer.concat([frame('one'), frame(''), frame('two words')]));
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, { frames: 'u32be' }, io);
    io.input.end('hello\r\n\nlast line without LF');
    await session.done;
    assert.equal(io.output.text(), 'one\n\ntwo words\n');
    assert.deepEqual(
      await received!,
      Buffer.concat([frame('hello'), frame(''), frame('last line without LF')]),
    );
  });

  it('u32le lengths, both ways', T, async (t) => {
    let received: Promise<Buffer> | undefined;
    const { address } = await peerServer(t, (socket) => {
      received = readAll(socket);
      socket.end(frame('little', true));
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, { frames: 'u32le' }, io);
    io.input.end('endian\n');
    await session.done;
    assert.equal(io.output.text(), 'little\n');
    assert.deepEqual(await received!, frame('endian', true));
  });

  it('--json: connect, one line per frame (text or base64), close', T, async (t) => {
    const { address } = await peerServer(t, (socket) => {
      socket.end(Buffer.concat([frame('héllo'), frame(Buffer.from([0xff, 0x00, 0x0a]))]));
      socket.resume();
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, { frames: 'u32be', json: true }, io);
    io.input.end();
    await session.done;
    const lines = jsonLines(io.output.text());
    assert.deepEqual(
      lines.map((l) => l.type),
      ['connect', 'frame', 'frame', 'close'],
    );
    const [, first, second, close] = lines;
    assert.deepEqual(
      { frame: first!.frame, bytes: first!.bytes, text: first!.text },
      { frame: 1, bytes: 6, text: 'héllo' },
    );
    assert.deepEqual(
      { frame: second!.frame, bytes: second!.bytes, base64: second!.base64 },
      { frame: 2, bytes: 3, base64: Buffer.from([0xff, 0x00, 0x0a]).toString('base64') },
    );
    assert.equal(close!.bytesIn, 10 + 7);
  });

  it('a frame above --max-frame fails the relay with FRAME_TOO_LARGE', T, async (t) => {
    const { address } = await peerServer(t, (socket) => {
      socket.write(Buffer.from([0, 0, 4, 1])); // 1025 bytes announced
      socket.resume();
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, { frames: 'u32be', maxFrame: 1024 }, io);
    await assert.rejects(session.done, (err: unknown) => {
      assert.ok(err instanceof ProtocolError);
      return hasCode('FRAME_TOO_LARGE')(err);
    });
  });

  it('a stdin line above --max-frame fails the relay before it is sent', T, async (t) => {
    const { address } = await peerServer(t, (socket) => socket.resume());
    const io = new MemoryIo();
    const session = await relayConnect(address, { frames: 'u32be', maxFrame: 8 }, io);
    io.input.write('this line is too long\n');
    await assert.rejects(session.done, hasCode('LINE_TOO_LONG'));
  });

  it('the peer closing inside a frame is INCOMPLETE', T, async (t) => {
    const { address } = await peerServer(t, (socket) => {
      socket.end(frame('truncated').subarray(0, 6));
      socket.resume();
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, { frames: 'u32be' }, io);
    io.input.end();
    await assert.rejects(session.done, hasCode('INCOMPLETE'));
  });
});

describe('relayConnect --show-reads and --hex', () => {
  it('two sends coalesced: one read event with two complete frames', T, async (t) => {
    const { address } = await peerServer(t, (socket) => {
      socket.end(Buffer.concat([frame('hello'), frame('world')]));
      socket.resume();
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, { frames: 'u32be', showReads: true }, io);
    io.input.end();
    await session.done;
    const reads = io.eventsOf('read').map((e) => e.report);
    assert.equal(reads.length, 1);
    assert.deepEqual(
      reads[0]!.frames.map((f) => [f.frame, f.state, f.received]),
      [
        [1, 'complete', 5],
        [2, 'complete', 5],
      ],
    );
    assert.equal(io.output.text(), 'hello\nworld\n');
  });

  it('--read-size 4096: a 10 KiB frame arrives in three reads', T, async (t) => {
    const payload = Buffer.alloc(10240, 0x62);
    const { address } = await peerServer(t, (socket) => {
      socket.end(frame(payload));
      socket.resume();
    });
    const io = new MemoryIo();
    const session = await relayConnect(
      address,
      { frames: 'u32be', showReads: true, readSize: 4096 },
      io,
    );
    io.input.end();
    await session.done;
    const reads = io.eventsOf('read').map((e) => e.report);
    assert.deepEqual(
      reads.map((r) => [r.bytes, r.frames[0]?.state, r.frames[0]?.received]),
      [
        [4096, 'started', 4092],
        [4096, 'continued', 8188],
        [2052, 'complete', 10240],
      ],
    );
    assert.deepEqual(io.output.bytes(), Buffer.concat([payload, Buffer.from('\n')]));
  });

  it('--hex reports both directions with running offsets', T, async (t) => {
    const { address } = await peerServer(t, (socket) => {
      socket.on('data', () => undefined);
      socket.on('end', () => socket.end('pong'));
    });
    const io = new MemoryIo();
    const session = await relayConnect(address, { hex: true }, io);
    io.input.write('pi');
    await io.waitForEvent('dump');
    io.input.end('ng');
    await session.done;
    const dumps = io.eventsOf('dump');
    assert.deepEqual(
      dumps.map((d) => [d.direction, d.offset, d.bytes.toString()]),
      [
        ['sent', 0, 'pi'],
        ['sent', 2, 'ng'],
        ['received', 0, 'pong'],
      ],
    );
  });
});

describe('relayConnect errors', () => {
  it('connection refused, before anything is relayed', T, async (t) => {
    const { server, address } = await peerServer(t, () => undefined);
    server.close();
    await once(server, 'close');
    await assert.rejects(relayConnect(address, {}, new MemoryIo()), (err: unknown) => {
      assert.ok(err instanceof NetworkError);
      return hasCode('CONNECTION_REFUSED')(err);
    });
  });

  it('contradicting options are usage errors', async () => {
    const address = { kind: 'inet' as const, host: '127.0.0.1', port: 9 };
    for (const options of [
      { sendOnly: true, recvOnly: true },
      { udp: true, frames: 'u32be' as const },
    ]) {
      await assert.rejects(relayConnect(address, options, new MemoryIo()), (err: unknown) => {
        assert.ok(err instanceof UsageError);
        return hasCode('BAD_OPTION')(err);
      });
    }
  });

  it('--idle-timeout fails a silent connection with IDLE_TIMEOUT', T, async (t) => {
    const { address } = await peerServer(t, (socket) => socket.resume());
    const io = new MemoryIo();
    const session = await relayConnect(address, { idleTimeoutMs: 150 }, io);
    await assert.rejects(session.done, hasCode('IDLE_TIMEOUT'));
  });
});

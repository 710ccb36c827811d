import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as connectTo } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  UsageError,
  relayConnect,
  relayListen,
  type Address,
  type RelayListenOptions,
} from '../../../src/index.js';
import { tempDir } from '../../helpers/echo.js';
import { LOOPBACK, rawConnect, readAll, jsonLines } from '../../helpers/net.js';
import { MemoryIo } from '../../helpers/relay.js';

const T = { timeout: 20_000 };

async function listen(
  t: TestContext,
  options: RelayListenOptions = {},
  where: Address = LOOPBACK,
): Promise<{ io: MemoryIo; address: Address; done: Promise<void>; close: () => Promise<void> }> {
  const io = new MemoryIo();
  const listener = await relayListen(where, options, io);
  t.after(() => listener.close());
  return { io, address: listener.address, done: listener.done, close: () => listener.close() };
}

describe('relayListen: one client', () => {
  it('serves one client both ways, then is done', T, async (t) => {
    const { io, address, done } = await listen(t);
    assert.deepEqual(await io.waitForEvent('listening'), {
      type: 'listening',
      address: `tcp 127.0.0.1:${(address as { port: number }).port}`,
    });
    io.input.end('from the listener\n');
    const client = await rawConnect(address);
    const got = readAll(client);
    client.end('from the client\n');
    assert.equal((await got).toString(), 'from the listener\n');
    await done;
    assert.equal(io.output.text(), 'from the client\n');
    const connect = await io.waitForEvent('connect');
    assert.equal(connect.inbound, true);
  });

  it('stdin is not read before a client connects', T, async (t) => {
    const { io, address, done } = await listen(t);
    io.input.write('waiting in the pipe');
    assert.equal(io.input.readableLength, 'waiting in the pipe'.length);
    const client = await rawConnect(address);
    const got = readAll(client);
    io.input.end();
    client.end();
    await done;
    assert.equal((await got).toString(), 'waiting in the pipe');
  });

  it('a second client while the first is served gets "error BUSY"', T, async (t) => {
    const { io, address, done } = await listen(t);
    const first = await rawConnect(address);
    await io.waitForEvent('connect');
    const second = await rawConnect(address);
    assert.match((await readAll(second)).toString(), /^error BUSY: [^\n]+\n$/);
    const refused = await io.waitForEvent('refused');
    assert.equal(refused.code, 'BUSY');
    first.end();
    io.input.end();
    await done;
  });

  it('over a Unix socket, and the socket file is made 0600', T, async (t) => {
    const path = join(await tempDir(t), 'relay.sock');
    const { io, address, done } = await listen(t, {}, { kind: 'unix', path });
    assert.deepEqual(address, { kind: 'unix', path });
    assert.equal((await io.waitForEvent('listening')).address, `unix:${path}`);
    const { stat } = await import('node:fs/promises');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const client = await rawConnect(address);
    client.end('over unix');
    io.input.end();
    await done;
    assert.equal(io.output.text(), 'over unix');
  });

  it('relayConnect to relayListen over IPv6 with --frames', T, async (t) => {
    const { io, address, done } = await listen(
      t,
      { frames: 'u32be' },
      {
        kind: 'inet',
        host: '::1',
        port: 0,
      },
    );
    io.input.end('down\n');
    const client = new MemoryIo();
    const session = await relayConnect(address, { frames: 'u32be' }, client);
    client.input.end('up 1\nup 2\n');
    await Promise.all([session.done, done]);
    assert.equal(io.output.text(), 'up 1\nup 2\n');
    assert.equal(client.output.text(), 'down\n');
  });
});

describe('relayListen --keep-open', () => {
  it('serves several clients at once; stdin goes to each of them', T, async (t) => {
    const { io, address, close } = await listen(t, { keepOpen: true });
    const clients = await Promise.all([rawConnect(address), rawConnect(address)]);
    const [a, b] = clients;
    const gotA = readAll(a);
    const gotB = readAll(b);
    await io.waitForEvent('connect', () => io.eventsOf('connect').length === 2);
    io.input.write('to everyone\n');
    a.write('from a\n');
    b.write('from b\n');
    await io.output.waitFor((all) => all.includes('from a\n') && all.includes('from b\n'));
    io.input.end(); // FIN to every client
    a.end();
    b.end();
    assert.equal((await gotA).toString(), 'to everyone\n');
    assert.equal((await gotB).toString(), 'to everyone\n');
    // A client after stdin's end gets a FIN at once and can still send.
    const late = await rawConnect(address);
    const gotLate = readAll(late);
    late.end('late\n');
    assert.equal((await gotLate).toString(), '');
    await io.output.waitFor('late\n');
    await close();
  });

  it('--max-conns: the next client gets "error BUSY"', T, async (t) => {
    const { io, address } = await listen(t, { keepOpen: true, maxConns: 2 });
    const held = await Promise.all([rawConnect(address), rawConnect(address)]);
    t.after(() => {
      for (const s of held) s.destroy();
    });
    await io.waitForEvent('connect', () => io.eventsOf('connect').length === 2);
    const third = await rawConnect(address);
    assert.match((await readAll(third)).toString(), /^error BUSY: server is at its limit of 2/);
  });

  it('--json: each event and read is a JSON line naming its peer', T, async (t) => {
    const { io, address, close } = await listen(t, { keepOpen: true, json: true });
    io.input.end(); // nothing to send: each client gets our FIN once it connects
    const client = await rawConnect(address);
    client.end('hi');
    await io.waitForEvent('close');
    await close();
    const lines = jsonLines(io.output.text());
    assert.deepEqual(
      lines.map((l) => l.type),
      ['listening', 'connect', 'data', 'close'],
    );
    assert.equal(lines[2]!.text, 'hi');
    assert.equal(lines[2]!.peer, lines[1]!.peer);
  });
});

/**
 * A refused peer is reset: no byte, and a reset rather than an EOF. On
 * loopback the reset can land before our connect completes.
 */
async function assertReset(address: Address): Promise<void> {
  assert.ok(address.kind !== 'unix', '--allow applies to TCP only');
  const socket = connectTo({ host: address.host, port: address.port });
  const got: Buffer[] = [];
  socket.on('data', (c: Buffer) => got.push(c));
  socket.on('connect', () => socket.write('let me in'));
  const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
  // ECONNRESET on connect or read; EPIPE if our write was the first to meet it.
  assert.ok(error.code === 'ECONNRESET' || error.code === 'EPIPE', String(error.code));
  assert.equal(Buffer.concat(got).length, 0);
}

describe('relayListen --allow / --deny', () => {
  it('a peer not in --allow is reset at once, sent nothing, and reported', T, async (t) => {
    const { io, address, close } = await listen(t, { keepOpen: true, allow: ['10.0.0.0/8'] });
    await assertReset(address);
    const refused = await io.waitForEvent('refused');
    assert.equal(refused.code, 'ACCESS_DENIED');
    assert.match(refused.message, /127\.0\.0\.1 is not in --allow/);
    assert.equal(io.eventsOf('connect').length, 0);
    assert.equal(io.output.text(), '');
    await close();
  });

  it('--deny wins; an allowed peer is served', T, async (t) => {
    const denied = await listen(t, { allow: ['127.0.0.0/8'], deny: ['127.0.0.1'] });
    await assertReset(denied.address);
    assert.match((await denied.io.waitForEvent('refused')).message, /matches --deny/);

    const allowed = await listen(t, { allow: ['127.0.0.0/8', '::1'] });
    const c2 = await rawConnect(allowed.address);
    c2.end('welcome');
    allowed.io.input.end();
    await allowed.done;
    assert.equal(allowed.io.output.text(), 'welcome');
  });

  it('rules are checked before listening; Unix sockets take none', async () => {
    await assert.rejects(
      relayListen(LOOPBACK, { allow: ['nope'] }, new MemoryIo()),
      (err: unknown) => err instanceof UsageError && err.code === 'BAD_OPTION',
    );
    await assert.rejects(
      relayListen({ kind: 'unix', path: '/tmp/x.sock' }, { deny: ['::1'] }, new MemoryIo()),
      (err: unknown) =>
        err instanceof UsageError && /Unix socket is guarded by its file mode/.test(err.message),
    );
    await assert.rejects(
      relayListen(LOOPBACK, { maxConns: 3 }, new MemoryIo()),
      (err: unknown) =>
        err instanceof UsageError && /--max-conns needs --keep-open/.test(err.message),
    );
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { describe, it, type TestContext } from 'node:test';
import {
  ProtocolError,
  TimeServer,
  encodeRfc868,
  encodeSntpRequest,
  parseSntpPacket,
  queryTime,
  type Address,
  type TimeListen,
  type TimeServerOptions,
} from '../../../src/index.js';
import { toNtpTimestamp } from '../../../src/services/time/internal.js';
import { portOf, rawConnect, readAll } from '../../helpers/net.js';
import { requireTool } from '../../helpers/tools.js';

const run = promisify(execFile);
const any = (port = 0): Address => ({ kind: 'inet', host: '127.0.0.1', port });

/** All five listeners on free ports; RFC 868 TCP and UDP share a number, as rdate expects. */
async function timeServer(
  t: TestContext,
  options: TimeServerOptions = {},
): Promise<{ server: TimeServer; at: Required<TimeListen> }> {
  const server = new TimeServer(options);
  t.after(() => server.close(0));
  const tcp = await server.listen({ rfc868Tcp: any() });
  const at = await server.listen({
    rfc868Udp: any(portOf(tcp.rfc868Tcp)),
    unix32: any(),
    strftime: any(),
    sntp: any(),
  });
  return { server, at: { ...tcp, ...at } as Required<TimeListen> };
}

/** Sends one datagram and resolves with the reply, or undefined if none came before a later marker reply. */
async function datagram(t: TestContext, to: Address, payload: Buffer): Promise<Buffer> {
  const socket = createSocket('udp4');
  t.after(() => socket.close());
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const reply = once(socket, 'message') as Promise<[Buffer]>;
  socket.send(payload, portOf(to), '127.0.0.1');
  return (await reply)[0];
}

function sntpRequest(version: number, mode = 3): Buffer {
  return encodeSntpRequest(Buffer.from('0123456789abcdef', 'hex'), version, mode);
}

/** A UDP socket that keeps every reply it gets; `send` targets a server port. */
async function udpProbe(t: TestContext): Promise<{
  replies: Buffer[];
  send: (to: Address, payload: Buffer) => void;
  next: () => Promise<unknown>;
}> {
  const socket = createSocket('udp4');
  t.after(() => socket.close());
  const replies: Buffer[] = [];
  socket.on('message', (m: Buffer) => replies.push(m));
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    replies,
    send: (to, payload) => socket.send(payload, portOf(to), '127.0.0.1'),
    next: () => once(socket, 'message'),
  };
}

/** Parses what `rdate -p` prints ("rdate: [host]\tSun Nov 22 05:19:09 2026" or a date line). */
function rdateTime(stdout: string): number {
  const line = stdout.trim().split('\n').pop() ?? '';
  const text = line.includes('\t') ? (line.split('\t').pop() ?? '') : line;
  const parsed = Date.parse(text.replace(/^rdate: /, ''));
  assert.ok(
    Number.isFinite(parsed),
    `cannot read a date from rdate output ${JSON.stringify(stdout)}`,
  );
  return parsed;
}

describe('time service, library level with an injected clock', () => {
  const fixed = Date.parse('2030-06-01T12:00:00Z') + 0.25;
  const clock = (): number => fixed;

  it('RFC 868 TCP: exactly 4 bytes, then the server closes', async (t) => {
    const { at } = await timeServer(t, { clock });
    const bytes = await readAll(await rawConnect(at.rfc868Tcp));
    assert.deepEqual(bytes, encodeRfc868(fixed));
  });

  it('RFC 868 UDP and unix32 answer any datagram, empty included', async (t) => {
    const { at } = await timeServer(t, { clock });
    assert.deepEqual(await datagram(t, at.rfc868Udp, Buffer.alloc(0)), encodeRfc868(fixed));
    assert.equal(
      (await datagram(t, at.unix32, Buffer.from('time?'))).readUInt32BE(0),
      Math.floor(fixed / 1000),
    );
  });

  it('strftime: a format in, the formatted time out; empty means %Y-%m-%d %X', async (t) => {
    const { at } = await timeServer(t, { clock });
    process.env.TZ = 'UTC';
    assert.equal(
      (await datagram(t, at.strftime, Buffer.alloc(0))).toString(),
      '2030-06-01 12:00:00',
    );
    assert.equal(
      (await datagram(t, at.strftime, Buffer.from('%A %j %%q'))).toString(),
      'Saturday 152 %q',
    );
  });

  it('strftime: oversize or invalid UTF-8 formats get no reply and are counted', async (t) => {
    const { server, at } = await timeServer(t, { clock });
    const probe = await udpProbe(t);
    const answered = probe.next();
    probe.send(at.strftime, Buffer.alloc(257, 0x41));
    probe.send(at.strftime, Buffer.from([0xff, 0xfe]));
    probe.send(at.strftime, Buffer.from('%Y'));
    await answered;
    assert.deepEqual(probe.replies.map(String), ['2030']);
    assert.equal(server.udpStats('strftime')?.malformed, 2);
  });

  it('SNTP: mode 4, version echoed, origin = our transmit, honest stratum and id, server timestamps', async (t) => {
    const { at } = await timeServer(t, { clock });
    for (const version of [3, 4]) {
      const reply = parseSntpPacket(await datagram(t, at.sntp, sntpRequest(version)));
      assert.equal(reply.mode, 4);
      assert.equal(reply.version, version);
      assert.equal(reply.originate.toString('hex'), '0123456789abcdef');
      assert.equal(reply.stratum, 10);
      assert.equal(reply.referenceId.toString(), 'LOCL');
      assert.equal(reply.leap, 0);
      assert.deepEqual(reply.receive, toNtpTimestamp(fixed));
      assert.deepEqual(reply.transmit, toNtpTimestamp(fixed));
      assert.ok(
        Number.isInteger(reply.precision) && reply.precision <= 0 && reply.precision >= -32,
      );
    }
  });

  it('SNTP: not-a-client-request and short packets are dropped and counted, never answered', async (t) => {
    const { server, at } = await timeServer(t, { clock });
    const probe = await udpProbe(t);
    const answered = probe.next();
    for (const bad of [
      sntpRequest(4, 4),
      sntpRequest(0),
      sntpRequest(4).subarray(0, 47),
      Buffer.from('hello'),
    ]) {
      probe.send(at.sntp, bad);
    }
    probe.send(at.sntp, sntpRequest(4));
    await answered;
    assert.equal(probe.replies.length, 1);
    assert.equal(server.sntpStats.malformed, 4);
  });

  it("SNTP: a source that polls too fast gets a Kiss-o'-Death RATE, which the client reports", async (t) => {
    const { server, at } = await timeServer(t, { clock, sntp: { ratePerSec: 0.001, burst: 2 } });
    await queryTime(at.sntp, { mode: 'sntp', clock });
    await queryTime(at.sntp, { mode: 'sntp', clock });
    await assert.rejects(queryTime(at.sntp, { mode: 'sntp', clock }), (err: unknown) => {
      assert.ok(err instanceof ProtocolError);
      assert.equal(err.code, 'KISS_OF_DEATH');
      assert.match(err.message, /RATE/);
      return true;
    });
    assert.equal(server.sntpStats.kissOfDeath, 1);
  });

  it('the client computes the offset: a server 5 s ahead is 5 s ahead in every mode', async (t) => {
    const { at } = await timeServer(t, { clock: () => Date.now() + 5000 });
    const sntp = await queryTime(at.sntp, { mode: 'sntp' });
    assert.ok(Math.abs((sntp.offsetMs ?? 0) - 5000) < 50, `sntp offset ${sntp.offsetMs}`);
    assert.ok(sntp.rttMs >= 0 && sntp.rttMs < 1000);
    for (const [mode, address, udp] of [
      ['rfc868', at.rfc868Tcp, false],
      ['rfc868', at.rfc868Udp, true],
      ['unix32', at.unix32, true],
    ] as const) {
      const result = await queryTime(address, { mode, udp });
      assert.ok(
        Math.abs((result.offsetMs ?? 0) - 5000) <= 1000,
        `${mode} offset ${result.offsetMs}`,
      );
    }
    const text = await queryTime(at.strftime, { mode: 'strftime', format: '%s' });
    assert.ok(Math.abs(Number(text.text) * 1000 - (Date.now() + 5000)) < 2000);
  });
});

describe('time service on the system clock', () => {
  it('declares the precision it has: microseconds, not the milliseconds of Date.now()', async (t) => {
    const { at } = await timeServer(t);
    const result = await queryTime(at.sntp, { mode: 'sntp' });
    assert.ok(result.resolutionMs < 0.01, `precision says ${result.resolutionMs} ms`);
    assert.ok(
      Math.abs(result.offsetMs ?? Infinity) < 50,
      `offset from our own clock: ${result.offsetMs} ms`,
    );
  });
});

describe('time service against clients nobody here wrote', () => {
  for (const [name, args, port] of [
    ['rdate -p (RFC 868 over TCP)', ['-p'], 'rfc868Tcp'],
    ['rdate -p -u (RFC 868 over UDP)', ['-p', '-u'], 'rfc868Udp'],
    ['rdate -p -n (SNTP)', ['-p', '-n'], 'sntp'],
  ] as const) {
    it(`${name} prints a time within 2 s of the local clock`, async (t) => {
      if (!requireTool(t, 'rdate')) return;
      const { at } = await timeServer(t);
      const { stdout } = await run(
        'rdate',
        [...args, '-o', String(portOf(at[port])), '127.0.0.1'],
        { timeout: 10_000 },
      );
      assert.ok(Math.abs(rdateTime(stdout) - Date.now()) < 2000, `rdate said ${stdout.trim()}`);
    });
  }

  it('a plain Python socket client reads unix32 with struct.unpack("!I") and strftime as text', async (t) => {
    if (!requireTool(t, 'python3')) return;
    const { at } = await timeServer(t);
    const script = [
      'import socket, struct, sys, json',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      's.settimeout(5)',
      's.sendto(b"now?", ("127.0.0.1", int(sys.argv[1])))',
      'unix = struct.unpack("!I", s.recvfrom(1024)[0])[0]',
      's.sendto("%s|%Y".encode(), ("127.0.0.1", int(sys.argv[2])))',
      'text = s.recvfrom(1024)[0].decode()',
      'print(json.dumps([unix, text]))',
    ].join('\n');
    const { stdout } = await run(
      'python3',
      ['-c', script, String(portOf(at.unix32)), String(portOf(at.strftime))],
      { timeout: 10_000 },
    );
    const [unix, text] = JSON.parse(stdout) as [number, string];
    assert.ok(Math.abs(unix * 1000 - Date.now()) < 2000);
    const [seconds, year] = text.split('|');
    assert.ok(Math.abs(Number(seconds) * 1000 - Date.now()) < 2000);
    assert.equal(Number(year), new Date().getFullYear());
  });
});

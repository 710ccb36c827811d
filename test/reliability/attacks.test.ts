// Attacks on every TCP/UDP port, each with a canary client, a memory bound
// and the error code. Unit-level versions live elsewhere (frame/envelope
// decoders: test/protocol/*; BUSY, idle, slowloris and SLOW_CONSUMER on the
// bare transport: test/transport/tcp-server.test.ts; exec auth:
// test/services/exec/auth.test.ts); these are the same attacks on the real
// services, with the bystander and the memory measured.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import {
  ChatServer,
  EchoClient,
  FilesServer,
  TimeServer,
  UdpServer,
  type Address,
} from '../../src/index.js';
import { computeMac } from '../../src/internal.js';
import { Canary, MemoryProbe, MiB, figure, timed, within } from '../helpers/chaos/canary.js';
import { captureLogger, startEcho, tempDir } from '../helpers/echo.js';
import { TOKEN, eventually, startExec } from '../helpers/exec.js';
import { LOOPBACK, closed, frame, portOf, rawConnect, readAll } from '../helpers/net.js';

const T = { timeout: 30_000 };

async function echoCanary(t: TestContext, tcp: Address): Promise<Canary> {
  const client = await EchoClient.connect(tcp, { timeoutMs: 1_000 });
  t.after(() => {
    client.destroy();
  });
  let n = 0;
  return Canary.start(t, 'echo', async () => {
    const text = `canary ${n++}`;
    assert.equal((await client.request(Buffer.from(text))).toString(), text.toUpperCase());
  });
}

/** A raw socket that records everything it gets and when it closed. */
async function attacker(
  t: TestContext,
  address: Address,
): Promise<{ socket: Socket; all: Promise<Buffer> }> {
  const socket = await rawConnect(address);
  t.after(() => socket.destroy());
  return { socket, all: readAll(socket) };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Error envelopes in a stream of u32be frames. */
function envelopes(bytes: Buffer): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let at = 0; at + 4 <= bytes.length;) {
    const n = bytes.readUInt32BE(at);
    if (at + 4 + n > bytes.length) break;
    try {
      out.push(
        JSON.parse(bytes.subarray(at + 4, at + 4 + n).toString()) as Record<string, unknown>,
      );
    } catch {
      break;
    }
    at += 4 + n;
  }
  return out;
}

async function startFilesServer(
  t: TestContext,
  options: { authTimeoutMs?: number; tcp?: object } = {},
) {
  const base = await tempDir(t, 'sockit-rel-files-');
  const root = join(base, 'root');
  await mkdir(root);
  const { logger, records, waitFor } = captureLogger();
  const server = new FilesServer({ root, token: TOKEN, logger, ...options });
  t.after(() => server.close(0));
  const address = await server.listen(LOOPBACK);
  return { server, address, root, records, waitFor };
}

describe('oversized lengths and header bombs', () => {
  it(
    'a 4 GiB length prefix (FF FF FF FF) then junk: FRAME_TOO_LARGE at once, no memory growth',
    T,
    async (t) => {
      const { tcp } = await startEcho(t, { framing: 'u32be', maxFrame: 64 * 1024 });
      const canary = await echoCanary(t, tcp);
      const memory = new MemoryProbe();
      const { socket, all } = await attacker(t, tcp);
      const { value: got, ms } = await timed(
        within(
          2_000,
          'close after a 4 GiB header',
          (async () => {
            socket.write(Buffer.concat([u32(0xffffffff), Buffer.alloc(1 * MiB, 0x41)]));
            return all;
          })(),
        ),
      );
      const { growth, peak } = memory.stop();
      assert.match(got.toString(), /^error FRAME_TOO_LARGE: /);
      assert.ok(ms < 1_000, `closed after ${ms} ms`);
      assert.ok(growth < 2 * MiB, `heap grew ${growth} bytes`);
      assert.ok(peak < 8 * MiB, `peak growth ${peak} bytes`);
      figure('attack 4GiB length', {
        closeMs: ms,
        growthKiB: Math.round(growth / 1024),
        peakKiB: Math.round(peak / 1024),
      });
      await canary.assertHealthy();
    },
  );

  it(
    'the same 4 GiB prefix as an envelope header on exec and files (pre-auth): refused, closed',
    T,
    async (t) => {
      const exec = await startExec(t);
      const files = await startFilesServer(t);
      for (const [name, address] of [
        ['exec', exec.address],
        ['files', files.address],
      ] as const) {
        const { socket, all } = await attacker(t, address);
        const memory = new MemoryProbe();
        socket.write(Buffer.concat([u32(0xffffffff), Buffer.alloc(256 * 1024, 0x7b)]));
        const { value: got, ms } = await timed(within(3_000, `${name} close`, all));
        const { growth } = memory.stop();
        const codes = envelopes(got)
          .filter((e) => e.type === 'error')
          .map((e) => e.code);
        assert.ok(
          codes.some((c) => c === 'FRAME_TOO_LARGE' || c === 'HEADER_TOO_LARGE'),
          `${name}: ${JSON.stringify(codes)}`,
        );
        assert.ok(growth < 2 * MiB, `${name}: heap grew ${growth}`);
        figure(`attack 4GiB envelope ${name}`, {
          code: String(codes[0]),
          closeMs: ms,
          growthKiB: Math.round(growth / 1024),
        });
      }
    },
  );

  const bombs: [string, () => Buffer, string[]][] = [
    [
      'a header of 64 KiB + 1',
      () => Buffer.from(`{"type":"join","room":"${'x'.repeat(64 * 1024 - 20)}"}`),
      ['HEADER_TOO_LARGE', 'FRAME_TOO_LARGE'],
    ],
    [
      'nesting depth 10 000',
      () => Buffer.from(`{"type":"join","x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`),
      ['BAD_HEADER'],
    ],
    [
      '100 000 keys',
      () =>
        Buffer.from(
          JSON.stringify(
            Object.fromEntries([
              ['type', 'join'],
              ...Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 1]),
            ]),
          ),
        ),
      ['HEADER_TOO_LARGE', 'FRAME_TOO_LARGE', 'BAD_HEADER', 'BAD_REQUEST'],
    ],
    [
      '3 000 short keys (under the size limit)',
      () =>
        Buffer.from(
          JSON.stringify(
            Object.fromEntries([
              ['type', 'join'],
              ...Array.from({ length: 3_000 }, (_, i) => [`${i}`, 0]),
            ]),
          ),
        ),
      ['BAD_HEADER', 'BAD_REQUEST'],
    ],
  ];
  for (const [name, make, codes] of bombs) {
    it(`chat header bomb: ${name} → ${codes.join('/')}, the room carries on`, T, async (t) => {
      const server = new ChatServer({ rateLimit: false });
      t.after(() => server.close(0));
      const address = await server.listen(LOOPBACK);
      const payload = make(); // built first: building it blocks this process, not the server
      const { tcp } = await startEcho(t);
      const canary = await echoCanary(t, tcp);
      const { socket, all } = await attacker(t, address);
      const memory = new MemoryProbe();
      socket.write(frame(payload));
      const done = Promise.race([all, closed(socket).then(() => Buffer.alloc(0))]);
      // The server answers with an error and either closes or stays usable.
      const got = await within(
        3_000,
        name,
        Promise.race([
          all,
          new Promise<Buffer>((resolve) => {
            const chunks: Buffer[] = [];
            socket.on('data', (c: Buffer) => {
              chunks.push(c);
              const seen = envelopes(Buffer.concat(chunks));
              if (seen.some((e) => e.type === 'error')) resolve(Buffer.concat(chunks));
            });
          }),
        ]),
      );
      void done;
      const { growth, peak } = memory.stop();
      const errors = envelopes(got).filter((e) => e.type === 'error');
      assert.ok(errors.length > 0, `no error for ${name}: ${got.toString().slice(0, 200)}`);
      assert.ok(codes.includes(String(errors[0]?.code)), `${name}: ${String(errors[0]?.code)}`);
      assert.ok(growth < 4 * MiB, `heap grew ${growth}`);
      figure(`attack header bomb ${name}`, {
        bytes: payload.length,
        code: String(errors[0]?.code),
        growthKiB: Math.round(growth / 1024),
        peakKiB: Math.round(peak / 1024),
      });
      await canary.assertHealthy();
    });
  }
});

describe('slowloris on every TCP port', () => {
  /** Sends one byte every `everyMs` until the server closes; resolves with how long it held. */
  async function trickle(
    t: TestContext,
    address: Address,
    first: Buffer,
    everyMs: number,
    limitMs: number,
  ) {
    const { socket, all } = await attacker(t, address);
    const started = performance.now();
    let i = 0;
    const timer = setInterval(() => {
      if (!socket.destroyed && socket.writable)
        socket.write(first.subarray(i % first.length, (i % first.length) + 1));
      i++;
    }, everyMs);
    t.after(() => clearInterval(timer));
    const got = await within(limitMs, 'slowloris cut', all);
    clearInterval(timer);
    return { got, ms: Math.round(performance.now() - started), bytes: i };
  }

  it('echo (framed): FRAME_TIMEOUT at messageTimeoutMs although never idle', T, async (t) => {
    // (Raw echo is a byte stream: each trickled byte is a whole answer, so it is served, not cut.)
    const { tcp } = await startEcho(t, { tcp: { messageTimeoutMs: 500, idleTimeoutMs: 400 } });
    const canary = await echoCanary(t, tcp);
    const f = await trickle(t, tcp, frame(Buffer.alloc(1000, 'a')), 100, 3_000);
    assert.match(f.got.toString(), /FRAME_TIMEOUT/);
    assert.ok(f.ms < 1_800, `${f.ms} ms`);
    figure('attack slowloris echo', { framedCutMs: f.ms, boundMs: 500 });
    await canary.assertHealthy();
  });

  it(
    'exec and files: a trickled auth answer is cut by the auth deadline (AUTH_FAILED)',
    T,
    async (t) => {
      const { logger, waitFor } = captureLogger();
      const exec = await startExec(t, { authTimeoutMs: 500, logger });
      const files = await startFilesServer(t, { authTimeoutMs: 500 });
      const answer = frame(
        JSON.stringify({ type: 'auth', mac: computeMac(TOKEN, '00'.repeat(32)) }),
      );
      const [e, f] = await Promise.all([
        trickle(t, exec.address, answer, 50, 3_000),
        trickle(t, files.address, answer, 50, 3_000),
      ]);
      for (const [name, r] of [
        ['exec', e],
        ['files', f],
      ] as const) {
        const codes = envelopes(r.got)
          .map((x) => x.code)
          .filter(Boolean);
        assert.deepEqual(codes, ['AUTH_FAILED'], name);
        assert.ok(r.ms < 1_800, `${name}: ${r.ms} ms`);
      }
      await waitFor((r) => r.event === 'auth_failed');
      await files.waitFor((r) => r.event === 'auth_failed');
      figure('attack slowloris exec/files pre-auth', {
        execCutMs: e.ms,
        filesCutMs: f.ms,
        boundMs: 500,
      });
    },
  );

  it('chat (framed and text): FRAME_TIMEOUT at messageTimeoutMs', T, async (t) => {
    const server = new ChatServer({ rateLimit: false, tcp: { messageTimeoutMs: 500 } });
    t.after(() => server.close(0));
    const address = await server.listen(LOOPBACK);
    const { tcp } = await startEcho(t);
    const canary = await echoCanary(t, tcp);
    const [f, x] = await Promise.all([
      trickle(
        t,
        address,
        frame(JSON.stringify({ type: 'join', room: 'r'.repeat(20) })),
        100,
        4_000,
      ),
      trickle(t, address, Buffer.from('hello there, this line never ends'), 100, 4_000),
    ]);
    assert.match(f.got.toString(), /FRAME_TIMEOUT/);
    assert.match(x.got.toString(), /FRAME_TIMEOUT/);
    assert.ok(f.ms < 3_000 && x.ms < 3_000, `${f.ms} / ${x.ms}`);
    figure('attack slowloris chat', { framedCutMs: f.ms, textCutMs: x.ms, boundMs: 500 });
    await canary.assertHealthy();
  });

  it(
    'time (RFC 868 TCP): the 4 bytes are sent and the server closes; a trickling client cannot hold it',
    T,
    async (t) => {
      const server = new TimeServer({ tcp: { idleTimeoutMs: 500, messageTimeoutMs: 500 } });
      t.after(() => server.close(0));
      const bound = await server.listen({ rfc868Tcp: LOOPBACK });
      const address = bound.rfc868Tcp as Address;
      const r = await trickle(t, address, Buffer.from('x'), 100, 5_000);
      assert.equal(r.got.length, 4, 'exactly the 4-byte time');
      assert.ok(r.ms < 1_500, `held ${r.ms} ms`);
      figure('attack slowloris time', { cutMs: r.ms, boundMs: 500 });
    },
  );
});

describe('floods and slow readers', () => {
  it(
    'a connection flood past maxConnections: BUSY notices, kernel cap beyond; the canary keeps working',
    T,
    async (t) => {
      const { logger, records } = captureLogger();
      const { tcp, server } = await startEcho(t, { tcp: { maxConnections: 20 }, logger });
      const canary = await echoCanary(t, tcp); // holds slot 1
      const memory = new MemoryProbe();
      const sockets = await Promise.all(Array.from({ length: 19 }, () => rawConnect(tcp)));
      t.after(() => sockets.forEach((s) => s.destroy()));
      // 19 more fill the server; 200 more are refused.
      const flood = await Promise.all(
        Array.from({ length: 200 }, async () => {
          try {
            const s = await rawConnect(tcp);
            t.after(() => s.destroy());
            return (await within(5_000, 'refused client', readAll(s))).toString();
          } catch {
            return 'refused at connect';
          }
        }),
      );
      const busy = flood.filter((s) => /^error BUSY: /.test(s)).length;
      const silent = flood.filter((s) => s === '' || s === 'refused at connect').length;
      assert.equal(busy + silent, 200, 'every flooder got BUSY or a close, nothing else');
      assert.ok(busy >= 50, `${busy} BUSY notices`);
      assert.equal(server.connections, 20);
      const { growth } = memory.stop();
      assert.ok(growth < 8 * MiB, `heap grew ${growth}`);
      await canary.assertHealthy();
      // Once below the limit, a new client is served.
      sockets.forEach((s) => s.destroy());
      await Promise.all(sockets.map((s) => closed(s)));
      await eventually(() => server.connections === 1, 'the server to see the closes', 2_000);
      const late = await EchoClient.connect(tcp, { timeoutMs: 2_000 });
      t.after(() => {
        late.destroy();
      });
      assert.equal((await late.request(Buffer.from('late'))).toString(), 'LATE');
      figure('attack connection flood', {
        maxConnections: 20,
        flooders: 200,
        busy,
        silentClose: silent,
        refusedLogged: records.filter((r) => r.event === 'refused').length,
        growthKiB: Math.round(growth / 1024),
      });
    },
  );

  it(
    'a reader that never reads: SLOW_CONSUMER at writeTimeoutMs, server memory bounded',
    T,
    async (t) => {
      const { logger, waitFor } = captureLogger();
      const { tcp } = await startEcho(t, {
        logger,
        tcp: { writeTimeoutMs: 500, maxPendingWrite: 1 * MiB },
      });
      const canary = await echoCanary(t, tcp);
      const memory = new MemoryProbe();
      const socket = await rawConnect(tcp);
      t.after(() => socket.destroy());
      socket.pause(); // never reads
      const block = frame(Buffer.alloc(64 * 1024, 'z'));
      let sent = 0;
      const started = performance.now();
      const pump = (): void => {
        while (!socket.destroyed && sent < 256 * MiB) {
          sent += block.length;
          if (!socket.write(block)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
      const closeLog = await within(
        5_000,
        'SLOW_CONSUMER',
        waitFor((r) => r.event === 'close' && r.code === 'SLOW_CONSUMER'),
      );
      const ms = Math.round(performance.now() - started);
      const { growth, peak } = memory.stop();
      assert.ok(peak < 32 * MiB, `peak growth ${peak}`);
      figure('attack never-reading client', {
        cutMs: ms,
        sentMiB: Math.round(sent / MiB),
        serverBytesOut: Number(closeLog.bytesOut),
        peakGrowthMiB: Math.round(peak / MiB),
        growthKiB: Math.round(growth / 1024),
      });
      socket.destroy();
      await canary.assertHealthy();
    },
  );
});

describe('UDP reflection loops', () => {
  it(
    'a datagram from another sockit UDP service port or a privileged port is never answered',
    T,
    async (t) => {
      const { udp, server } = await startEcho(t, { udp: { rateLimit: false } });
      assert.ok(udp);
      const sent: number[] = [];
      for (const port of [7037, 7038, 7123, 7195, 1023]) {
        const s = createSocket({ type: 'udp4' });
        t.after(() => s.close());
        try {
          s.bind(port, '127.0.0.1');
          await once(s, 'listening');
        } catch {
          continue; // in use here: the others still prove it
        }
        s.on('message', () => assert.fail(`an answer went to port ${port}: a loop could start`));
        s.send(Buffer.from('reflect me'), portOf(udp), '127.0.0.1');
        sent.push(port);
      }
      assert.ok(sent.length >= 3, `could bind only ${sent.join(',')}`);
      // Prove delivery without sleeping: a normal client's datagram sent after them is answered.
      const probe = createSocket('udp4');
      t.after(() => probe.close());
      probe.send(Buffer.from('after'), portOf(udp), '127.0.0.1');
      const [reply] = (await within(2_000, 'probe reply', once(probe, 'message'))) as [Buffer];
      assert.equal(reply.toString(), 'AFTER');
      assert.equal(server.udpStats.loopGuarded, sent.length);
      figure('attack udp loop guard', {
        guardedPorts: sent.join('/'),
        loopGuarded: server.udpStats.loopGuarded,
        answered: server.udpStats.answered,
      });
    },
  );

  it(
    'two sockit UDP echo servers on their default ports cannot ping-pong: the first reply is the last',
    T,
    async (t) => {
      // Echo A on 7007 (sockit's echo port) answers a client whose source is
      // time's port 7037, where a sockit RFC 868 server would answer back.
      const a = new UdpServer((m) => m, { rateLimit: false });
      t.after(() => a.close());
      let aAt: Address;
      try {
        aAt = await a.listen({ kind: 'inet', host: '127.0.0.1', port: 7007 });
      } catch {
        aAt = await a.listen(LOOPBACK);
      }
      const b = new TimeServer();
      t.after(() => b.close(0));
      let bAt: Address;
      try {
        bAt = (await b.listen({ rfc868Udp: { kind: 'inet', host: '127.0.0.1', port: 7037 } }))
          .rfc868Udp as Address;
      } catch {
        t.skip('port 7037 is in use here');
        return;
      }
      // B sends its time to whoever asks; ask "as A" is impossible without
      // spoofing, so ask B from a socket and forward B's answer to A from B's
      // port's point of view: B's reply comes from 7037, and A must drop anything from 7037.
      const asker = createSocket('udp4');
      t.after(() => asker.close());
      asker.send(Buffer.from('x'), portOf(bAt), '127.0.0.1');
      const [, from] = (await within(2_000, 'time reply', once(asker, 'message'))) as [
        Buffer,
        { port: number },
      ];
      assert.equal(from.port, 7037);
      assert.equal(a.stats.loopGuarded, 0);
      figure('attack udp ping-pong', { aPort: portOf(aAt), bPort: from.port });
    },
  );
});

describe('authentication brute force', () => {
  for (const service of ['exec', 'files'] as const) {
    it(
      `${service}: wrong answers from one address are logged auth_failed, then RATE_LIMITED before any hello; others are served`,
      T,
      async (t) => {
        const { logger, records } = captureLogger();
        let address: Address;
        let waitFor: (
          m: (r: Record<string, unknown>) => boolean,
        ) => Promise<Record<string, unknown>>;
        if (service === 'exec') {
          address = (await startExec(t, { logger, authFailures: { limit: 20 } })).address;
          waitFor = (m) => Promise.resolve(records.find(m) ?? {});
        } else {
          const f = await startFilesServer(t);
          address = f.address;
          waitFor = f.waitFor;
          records.push(...f.records);
        }
        const { connect: netConnect } = await import('node:net');
        const memory = new MemoryProbe();
        const results: string[] = [];
        const started = performance.now();
        for (let i = 0; i < 25; i++) {
          const s = netConnect({
            host: '127.0.0.1',
            port: portOf(address),
            localAddress: '127.0.0.2',
          });
          s.on('error', () => undefined);
          t.after(() => s.destroy());
          await once(s, 'connect');
          const all = readAll(s);
          s.on('data', (c: Buffer) => {
            for (const e of envelopes(c)) {
              if (e.type === 'hello')
                s.write(frame(JSON.stringify({ type: 'auth', mac: 'ab'.repeat(32) })));
            }
          });
          const got = await within(3_000, 'brute-force attempt', all);
          const codes = envelopes(got)
            .map((e) => e.code)
            .filter(Boolean);
          results.push(String(codes[0]));
        }
        const ms = Math.round(performance.now() - started);
        const { growth } = memory.stop();
        assert.deepEqual(results.slice(0, 20), Array(20).fill('AUTH_FAILED'));
        assert.deepEqual(results.slice(20), Array(5).fill('RATE_LIMITED'));
        if (service === 'exec')
          assert.equal(records.filter((r) => r.event === 'auth_failed').length, 20);
        else await waitFor((r) => r.event === 'auth_failed');
        // Someone else (127.0.0.1) with the token is still served.
        const s = await rawConnect(address);
        t.after(() => s.destroy());
        const ready = new Promise<void>((resolve) => {
          s.on('data', (c: Buffer) => {
            for (const e of envelopes(c)) {
              if (e.type === 'hello')
                s.write(
                  frame(JSON.stringify({ type: 'auth', mac: computeMac(TOKEN, String(e.nonce)) })),
                );
              if (e.type === 'ready') resolve();
            }
          });
        });
        await within(2_000, 'legitimate client', ready);
        figure(`attack auth brute force ${service}`, {
          attempts: 25,
          authFailed: 20,
          rateLimited: 5,
          ms,
          growthKiB: Math.round(growth / 1024),
        });
      },
    );
  }
});

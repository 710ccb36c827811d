import assert from 'node:assert/strict';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { FrameDecoder, type Address, type ChatServer } from '../../../src/index.js';
import { FramedPeer, TextPeer, startChat } from '../../helpers/chat.js';
import { selfSigned } from '../../helpers/certs.js';
import { captureLogger, startEcho } from '../../helpers/echo.js';
import { frame, portOf } from '../../helpers/net.js';
import { HttpRefusal, WsPeer, startGateway } from '../../helpers/web.js';

const T = { timeout: 20_000 };

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with the path sent exactly as given (no URL normalisation). */
function get(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('web gateway: the page and its files', () => {
  it('serves the page with a strict CSP, nosniff, and no inline script', T, async (t) => {
    const { address } = await startGateway(t);
    const page = await get(portOf(address), '/?nick=alice&room=lobby');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    // Every <script> names a file of ours; none has a body.
    assert.doesNotMatch(page.body, /<script(?![^>]*\bsrc="\/)[^>]*>/);
    assert.doesNotMatch(page.body, /<script[^>]*>[^<]+<\/script>/);
    assert.doesNotMatch(page.body, /\son\w+=/); // no inline event handlers
    const js = await get(portOf(address), '/app.js');
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.doesNotMatch(js.body, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    const head = await get(portOf(address), '/style.css', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  it('only the page’s own files: traversal, encoded traversal and others are 404', T, async (t) => {
    const { address } = await startGateway(t);
    const port = portOf(address);
    for (const path of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/%2E%2E%2Fpackage.json',
      '/..%2fpackage.json',
      '/app.js/../../package.json',
      '//etc/passwd',
      '/page/app.js',
      '/src/index.ts',
      '/app.js%00',
      '/APP.JS',
      '/favicon.ico/../package.json',
      '/ws',
    ]) {
      const reply = await get(port, path);
      assert.equal(reply.status, 404, path);
      assert.equal(reply.headers['x-content-type-options'], 'nosniff', path);
      assert.doesNotMatch(reply.body, /"name": "sockit"|root:/, path);
    }
  });

  it('/favicon.ico is an empty 204: a browser asks for it, the page has none', T, async (t) => {
    const { address } = await startGateway(t);
    const reply = await get(portOf(address), '/favicon.ico');
    assert.equal(reply.status, 204);
    assert.equal(reply.body, '');
    assert.equal(reply.headers['x-content-type-options'], 'nosniff');
    assert.equal((await get(portOf(address), '/favicon.ico', 'POST')).status, 405);
  });

  it('odd methods get 405 with Allow', T, async (t) => {
    const { address } = await startGateway(t);
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE']) {
      const reply = await get(portOf(address), '/', method);
      assert.equal(reply.status, 405, method);
      assert.equal(reply.headers.allow, 'GET, HEAD', method);
    }
  });
});

describe('web gateway: --tls', () => {
  it('serves https and wss on the one port; plain ws there is refused', T, async (t) => {
    const pems = await selfSigned();
    const chat = await startChat(t);
    const { address, origin, wsBase } = await startGateway(t, { chat: chat.server, tls: pems });
    assert.match(origin, /^https:/);
    assert.match(wsBase, /^wss:/);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: portOf(address), path: '/', ca: pems.cert, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
    const web = await WsPeer.open(t, `${wsBase}/ws`, origin, { ca: pems.cert });
    const roster = await web.join('lobby', 'alice');
    assert.deepEqual(roster.nicks, ['alice']);
    // The https page's origin is the only same origin: http on this port is another.
    await assert.rejects(
      WsPeer.open(t, `${wsBase}/ws`, origin.replace('https:', 'http:'), { ca: pems.cert }),
      { status: 403 },
    );
    await assert.rejects(WsPeer.open(t, `${wsBase.replace('wss:', 'ws:')}/ws`, origin));
  });
});

describe('web gateway: the Origin rules', () => {
  it(
    'same origin passes; a foreign one gets 403 and is logged; no Origin needs the flag',
    T,
    async (t) => {
      const { tcp } = await startChat(t);
      const log = captureLogger();
      const { origin, wsBase } = await startGateway(t, { chat: tcp, logger: log.logger });
      const ok = await WsPeer.open(t, `${wsBase}/ws`, origin);
      ok.ws.close();

      await assert.rejects(WsPeer.open(t, `${wsBase}/ws`, 'http://evil.example'), (e) => {
        assert.ok(e instanceof HttpRefusal);
        assert.equal(e.status, 403);
        return true;
      });
      const logged = await log.waitFor((r) => r.event === 'ws_refused' && r.status === 403);
      assert.equal(logged.origin, 'http://evil.example');

      await assert.rejects(WsPeer.open(t, `${wsBase}/ws`, null), { status: 403 });
      // The same port on another scheme, or a name only DNS rebinding points here, is not us.
      await assert.rejects(WsPeer.open(t, `${wsBase}/ws`, origin.replace('http:', 'https:')), {
        status: 403,
      });
      await assert.rejects(
        WsPeer.open(t, `${wsBase}/ws`, `http://rebind.example:${new URL(origin).port}`, {
          headers: { host: `rebind.example:${new URL(origin).port}` },
        }),
        { status: 403 },
      );
    },
  );

  it('--allow-origin adds an origin, --allow-no-origin lets a tool in', T, async (t) => {
    const { tcp } = await startChat(t);
    const { wsBase } = await startGateway(t, {
      chat: tcp,
      allowOrigins: ['https://chat.example.org'],
      allowNoOrigin: true,
    });
    (await WsPeer.open(t, `${wsBase}/ws`, 'https://chat.example.org')).ws.close();
    (await WsPeer.open(t, `${wsBase}/ws`, null)).ws.close();
    await assert.rejects(WsPeer.open(t, `${wsBase}/ws`, 'https://other.example.org'), {
      status: 403,
    });
  });

  it('unknown WebSocket paths are 404: no open proxy', T, async (t) => {
    const { tcp } = await startEcho(t);
    const { origin, wsBase } = await startGateway(t, {
      bridges: [{ path: '/echo', target: tcp }],
    });
    for (const path of ['/ws', '/echo2', '/127.0.0.1:22', '/echo/../ws', '/%65cho']) {
      await assert.rejects(WsPeer.open(t, `${wsBase}${path}`, origin), { status: 404 }, path);
    }
  });
});

for (const mode of ['in-process', 'tcp'] as const) {
  describe(`web gateway: chat over WebSocket (${mode} broker)`, () => {
    /** The gateway's chat option: the ChatServer itself, or its TCP address. */
    const via = (started: { server: ChatServer; tcp: Address }): ChatServer | Address =>
      mode === 'in-process' ? started.server : started.tcp;

    it(
      'a flooding browser is slowed by the chat rate limit, loses nothing, and holds up no one',
      T,
      async (t) => {
        const rate = { ratePerSec: 10, burst: 2 };
        const chat = await startChat(t, { rateLimit: rate });
        const { origin, wsBase } = await startGateway(t, { chat: via(chat) });
        const flood = await WsPeer.open(t, `${wsBase}/ws`, origin);
        await flood.join('lobby', 'flood');
        const calm = await WsPeer.open(t, `${wsBase}/ws`, origin);
        await calm.join('lobby', 'calm');
        const listener = await FramedPeer.connect(t, chat.tcp);
        await listener.join('lobby', 'ear');
        const n = 12;
        const start = performance.now();
        for (let i = 0; i < n; i++) flood.sendJson({ type: 'say', room: 'lobby', text: `f${i}` });
        calm.sendJson({ type: 'say', room: 'lobby', text: 'calm' });
        await listener.wait((e) => e.type === 'message' && e.text === `f${n - 1}`, 'the last');
        const elapsed = performance.now() - start;
        const texts = listener.events.items
          .filter((e) => e.type === 'message')
          .map((e) => String(e.text));
        assert.deepEqual(
          texts.filter((x) => x.startsWith('f')),
          Array.from({ length: n }, (_, i) => `f${i}`),
          'every message, in order: the limiter waits, it does not drop',
        );
        // Past the burst of 2, one request per 100 ms: the 12 says take at least
        // about a second (a lower bound: what proves the limiter is on).
        assert.ok(elapsed >= ((n - rate.burst) / rate.ratePerSec) * 1000 * 0.8, `${elapsed} ms`);
        assert.ok(
          texts.indexOf('calm') < texts.indexOf(`f${n - 1}`),
          'another browser is not queued behind the flooder',
        );
      },
    );

    it(
      'a browser, a framed client and an nc user share a room, each message once',
      T,
      async (t) => {
        const chat = await startChat(t);
        const { tcp } = chat;
        const { origin, wsBase } = await startGateway(t, { chat: via(chat) });
        const web = await WsPeer.open(t, `${wsBase}/ws`, origin);
        const roster = await web.join('lobby', 'alice');
        assert.deepEqual(roster.nicks, ['alice']);
        const nc = await TextPeer.connect(t, tcp);
        nc.line('/nick carol');
        await web.event('joined', (e) => e.nick === 'guest2' || e.nick === 'carol');
        const framed = await FramedPeer.connect(t, tcp);
        await framed.join('lobby', 'bob');

        web.sendJson({ type: 'say', room: 'lobby', text: 'hi from the browser' });
        await nc.waitLine('#lobby <alice> hi from the browser');
        await framed.wait((e) => e.type === 'message' && e.text === 'hi from the browser');
        nc.line('hi from nc');
        const fromNc = await web.event('message', (e) => e.text === 'hi from nc');
        assert.equal(fromNc.from, 'carol');
        framed.send({ type: 'msg', to: 'alice', text: 'psst' });
        const pm = await web.event('message', (e) => e.text === 'psst');
        assert.equal(pm.to, 'alice');
        // The receipt of alice's own message, and nothing twice.
        await web.event('message', (e) => e.from === 'alice');
        framed.send({ type: 'say', room: 'lobby', text: 'last' });
        await web.event('message', (e) => e.text === 'last');
        const texts = web
          .events()
          .filter((e) => e.type === 'message')
          .map((e) => e.text);
        assert.deepEqual(texts, ['hi from the browser', 'hi from nc', 'psst', 'last']);
        assert.ok(
          !nc.lines.items.some((l) => l.includes('psst')),
          'a private message reaches only its target',
        );
      },
    );

    it(
      'a binary message on the chat path is refused with an error; the link stays',
      T,
      async (t) => {
        const chat = await startChat(t);
        const { origin, wsBase } = await startGateway(t, { chat: via(chat) });
        const web = await WsPeer.open(t, `${wsBase}/ws`, origin);
        web.ws.send(Buffer.from([0, 1, 2]));
        const error = await web.event('error');
        assert.equal(error.code, 'BAD_REQUEST');
        const roster = await web.join('lobby', 'alice');
        assert.deepEqual(roster.nicks, ['alice']);
      },
    );

    it('the broker’s own errors come through: a taken nick, bad JSON', T, async (t) => {
      const chat = await startChat(t);
      const { origin, wsBase } = await startGateway(t, { chat: via(chat) });
      const a = await WsPeer.open(t, `${wsBase}/ws`, origin);
      await a.join('lobby', 'alice');
      const b = await WsPeer.open(t, `${wsBase}/ws`, origin);
      b.sendJson({ type: 'join', room: 'lobby', nick: 'ALICE', ref: 'j1' });
      const taken = await b.event('error');
      assert.deepEqual([taken.code, taken.ref], ['NICK_TAKEN', 'j1']);
      b.ws.send('{not json');
      assert.equal((await b.event('error', (e) => e.code !== 'NICK_TAKEN')).code, 'BAD_HEADER');
    });

    it('a message over the chat bound closes with 1009 before it is buffered', T, async (t) => {
      const chat = await startChat(t);
      const { origin, wsBase } = await startGateway(t, { chat: via(chat) });
      const web = await WsPeer.open(t, `${wsBase}/ws`, origin);
      web.ws.send(JSON.stringify({ type: 'say', text: 'x'.repeat(70 * 1024) }));
      await web.whenClosed();
      assert.equal(web.closeCode, 1009);
    });

    it(
      'a browser that stops reading is cut off (SLOW_CONSUMER); the room carries on',
      T,
      async (t) => {
        const chat = await startChat(t, { rateLimit: false, maxQueue: 64 * 1024 });
        const { tcp } = chat;
        const { gateway, origin, wsBase } = await startGateway(t, {
          chat: via(chat),
          maxQueue: 64 * 1024,
          // Time for the test to read the megabytes queued ahead of the close frame.
          noticeGraceMs: 15_000,
        });
        const slow = await WsPeer.open(t, `${wsBase}/ws`, origin);
        await slow.join('lobby', 'slow');
        const fine = await WsPeer.open(t, `${wsBase}/ws`, origin);
        await fine.join('lobby', 'fine');
        const talker = await FramedPeer.connect(t, tcp);
        await talker.join('lobby', 'talker');
        slow.ws.pause(); // reads nothing from now on
        // Kernel buffers on loopback take megabytes first: talk until the broker hears slow left.
        const text = 'y'.repeat(4000);
        let peak = 0;
        let sent = 0;
        const cut = { left: false };
        const base = fine.messages.length;
        void fine.event('left', (e) => e.nick === 'slow').then(() => (cut.left = true));
        while (!cut.left && sent < 50_000) {
          // 40 KB a turn: under the 64 KiB bound of a client that does read.
          for (let i = 0; i < 10; i++) talker.send({ type: 'say', room: 'lobby', text });
          sent += 10;
          const want = base + sent;
          await fine.wait(() => fine.messages.length >= want);
          peak = Math.max(peak, gateway.pendingWrite);
        }
        assert.ok(cut.left, 'slow was cut off');
        const left = await fine.event('left', (e) => e.nick === 'slow');
        assert.equal(left.room, 'lobby');
        const count = fine
          .events()
          .filter((e) => e.type === 'message' && e.from === 'talker').length;
        assert.equal(count, sent, 'the reading browser got every message');
        // The bound, plus one message: the check comes before each send.
        assert.ok(peak <= 64 * 1024 + 4 * 1024, `gateway queue peaked at ${peak}`);
        slow.ws.resume();
        await slow.whenClosed();
        assert.equal(slow.closeCode, 1008);
        assert.match(slow.closeReason, /^SLOW_CONSUMER/);
      },
    );

    it('past maxConnections the handshake gets 503', T, async (t) => {
      const chat = await startChat(t);
      const { origin, wsBase } = await startGateway(t, { chat: via(chat), maxConnections: 1 });
      await WsPeer.open(t, `${wsBase}/ws`, origin);
      await assert.rejects(WsPeer.open(t, `${wsBase}/ws`, origin), { status: 503 });
    });

    it('a broker that cannot be reached is a 502, not a dangling WebSocket', T, async (t) => {
      if (mode === 'in-process') return; // nothing to reach
      const { server, tcp } = await startChat(t);
      await server.close(0);
      const { origin, wsBase } = await startGateway(t, { chat: tcp });
      await assert.rejects(WsPeer.open(t, `${wsBase}/ws`, origin), { status: 502 });
    });

    it('a browser that answers no ping is dropped (PING_TIMEOUT)', T, async (t) => {
      const chat = await startChat(t);
      const { origin, wsBase } = await startGateway(t, { chat: via(chat), heartbeatMs: 100 });
      const web = await WsPeer.open(t, `${wsBase}/ws`, origin, { autoPong: false });
      await web.join('lobby', 'quiet');
      await web.whenClosed();
      assert.equal(web.closeCode, 1008);
      assert.match(web.closeReason, /^PING_TIMEOUT/);
    });
  });
}

describe('web gateway: bridges keep message boundaries', () => {
  it(
    '0 B, 1 B, 64 KiB and 1 MiB through /echo come back upper-cased, one message each',
    T,
    async (t) => {
      const { tcp } = await startEcho(t);
      const { origin, wsBase } = await startGateway(t, {
        bridges: [{ path: '/echo', target: tcp }],
      });
      const ws = await WsPeer.open(t, `${wsBase}/echo`, origin);
      const sizes = [0, 1, 64 * 1024, 1024 * 1024, 1, 0];
      for (const size of sizes) {
        ws.ws.send(Buffer.alloc(size, 'a'.charCodeAt(0)));
      }
      ws.ws.send('text is a frame too');
      await ws.wait(() => ws.messages.length === sizes.length + 1);
      assert.deepEqual(
        ws.messages.map((m) => m.data.length),
        [...sizes, 19],
      );
      for (const m of ws.messages.slice(0, -1)) {
        assert.ok(m.binary);
        assert.ok(m.data.every((b) => b === 'A'.charCodeAt(0)));
      }
      assert.equal(ws.messages.at(-1)?.data.toString(), 'TEXT IS A FRAME TOO');
    },
  );

  it('a frame from the target is one message however TCP cut it', T, async (t) => {
    // A hand-made target that writes two frames one byte at a time.
    const { createServer } = await import('node:net');
    const sockets = new Set<import('node:net').Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      const bytes = Buffer.concat([frame('first'), frame(Buffer.alloc(3000, 7))]);
      let i = 0;
      const step = (): void => {
        if (i >= bytes.length) return;
        socket.write(bytes.subarray(i, i + 1));
        i++;
        setImmediate(step);
      };
      step();
      socket.on('error', () => undefined);
    });
    t.after(() => server.close());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const { origin, wsBase } = await startGateway(t, {
      bridges: [{ path: '/drip', target: { kind: 'inet', host: '127.0.0.1', port } }],
    });
    const ws = await WsPeer.open(t, `${wsBase}/drip`, origin);
    t.after(() => {
      for (const s of sockets) s.destroy();
    });
    await ws.wait(() => ws.messages.length === 2);
    assert.equal(ws.messages[0]?.data.toString(), 'first');
    assert.equal(ws.messages[1]?.data.length, 3000);
    ws.ws.close();
    await ws.whenClosed();
  });

  it(
    'a browser that never reads pauses the target: the gateway holds at most its bound',
    T,
    async (t) => {
      const { tcp } = await startEcho(t);
      const highWater = 256 * 1024;
      const { gateway, origin, wsBase } = await startGateway(t, {
        bridges: [{ path: '/echo', target: tcp }],
        bridgeHighWater: highWater,
      });
      const ws = await WsPeer.open(t, `${wsBase}/echo`, origin);
      ws.ws.pause(); // never reads, until the end
      const chunk = Buffer.alloc(64 * 1024, 'b'.charCodeAt(0));
      const total = 200; // 12.5 MiB: far more than every buffer on the way
      let peak = 0;
      for (let i = 0; i < total; i++) {
        ws.ws.send(chunk);
        if (i % 10 === 9) {
          await new Promise<void>((resolve) => ws.ws.send(Buffer.alloc(0), () => resolve()));
          peak = Math.max(peak, gateway.pendingWrite);
        }
      }
      peak = Math.max(peak, gateway.pendingWrite);
      // One read of replies past the mark at most (a 64 KiB chunk holds whole frames).
      assert.ok(peak <= highWater + 2 * 64 * 1024 + 1024, `gateway held ${peak} bytes`);
      ws.ws.resume();
      const expected = total + Math.floor(total / 10);
      await ws.wait(() => ws.messages.length === expected);
      const big = ws.messages.filter((m) => m.data.length === chunk.length);
      assert.equal(big.length, total, 'nothing lost');
      assert.ok(big.every((m) => m.data[0] === 'B'.charCodeAt(0)));
    },
  );

  it(
    'a target that stops reading pauses the browser: the gateway holds at most one read for it',
    T,
    async (t) => {
      const sink = await startSink(t);
      const { gateway, origin, wsBase } = await startGateway(t, {
        bridges: [{ path: '/sink', target: { kind: 'inet', host: '127.0.0.1', port: sink.port } }],
      });
      const ws = await WsPeer.open(t, `${wsBase}/sink`, origin);
      const socket = await sink.accepted;
      // 32 MiB in numbered 64 KiB messages: more than every kernel buffer on the way can hold.
      const total = 512;
      let peak = 0;
      const sample = (): void => {
        peak = Math.max(peak, gateway.pendingToTargets);
      };
      for (let i = 0; i < total; i++) {
        const chunk = Buffer.alloc(64 * 1024, i & 0xff);
        chunk.writeUInt32BE(i, 0);
        ws.ws.send(chunk, sample);
      }
      // Until the pipe is full: the browser's queue stops shrinking for a while of event-loop turns.
      let last = -1;
      for (let still = 0; still < 500;) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sample();
        const now = ws.ws.bufferedAmount;
        still = now === last ? still + 1 : 0;
        last = now;
      }
      assert.equal(sink.frames.length, 0, 'the target has read nothing yet');
      assert.ok(ws.ws.bufferedAmount > 0, 'the browser is held back, not buffered for');
      // The socket's high-water mark plus the messages of one read from the browser.
      assert.ok(peak <= 256 * 1024, `gateway held ${peak} bytes for the target`);
      socket.resume();
      await sink.count(total);
      assert.deepEqual(
        sink.frames.map((f) => f.readUInt32BE(0)),
        Array.from({ length: total }, (_, i) => i),
        'every message once, in order',
      );
      assert.ok(sink.frames.every((f) => f.length === 64 * 1024));
    },
  );

  it('a frame over the bridge bound closes the WebSocket with 1009', T, async (t) => {
    const { tcp } = await startEcho(t);
    const { origin, wsBase } = await startGateway(t, {
      bridges: [{ path: '/echo', target: tcp }],
      maxFrame: 1024,
    });
    const ws = await WsPeer.open(t, `${wsBase}/echo`, origin);
    ws.ws.send(Buffer.alloc(2048));
    await ws.whenClosed();
    assert.equal(ws.closeCode, 1009);
  });

  it('a target that closes closes the WebSocket with 1000', T, async (t) => {
    const { tcp } = await startEcho(t, { reply: 'hello', framing: 'u32be' });
    const { origin, wsBase } = await startGateway(t, {
      bridges: [{ path: '/hello', target: tcp }],
    });
    const ws = await WsPeer.open(t, `${wsBase}/hello`, origin);
    ws.ws.send('exit');
    await ws.whenClosed();
    assert.equal(ws.closeCode, 1000);
    assert.equal(ws.messages[0]?.data.toString(), 'Welcome!');
  });
});

/** A framed TCP target whose one connection starts paused (reads nothing) and collects frames. */
async function startSink(t: TestContext): Promise<{
  port: number;
  accepted: Promise<Socket>;
  frames: Buffer[];
  count: (n: number) => Promise<void>;
}> {
  const frames: Buffer[] = [];
  let arrived = (): void => undefined;
  const sockets: Socket[] = [];
  let accept!: (socket: Socket) => void;
  const accepted = new Promise<Socket>((resolve) => (accept = resolve));
  const server = createServer((socket) => {
    socket.pause();
    sockets.push(socket);
    const decoder = new FrameDecoder((payload) => {
      frames.push(Buffer.from(payload));
      arrived();
    });
    socket.on('data', (b: Buffer) => decoder.push(b));
    socket.on('error', () => undefined);
    accept(socket);
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const count = (n: number): Promise<void> =>
    new Promise((resolve) => {
      arrived = () => {
        if (frames.length >= n) resolve();
      };
      arrived();
    });
  return { port, accepted, frames, count };
}

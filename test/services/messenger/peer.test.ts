import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import {
  MessengerPeer,
  ServiceError,
  type IncomingMessage,
  type MessengerPeerOptions,
} from '../../../src/index.js';
import { encodeMessage } from '../../../src/services/messenger/internal.js';
import { LOOPBACK, portOf } from '../../helpers/net.js';
import { LossyUdpRelay } from '../../helpers/lossy-udp.js';
import { run } from '../../helpers/proc.js';
import { requireTool } from '../../helpers/tools.js';

const T = { timeout: 20_000 };

async function peer(
  t: TestContext,
  options: MessengerPeerOptions = {},
): Promise<{ peer: MessengerPeer; port: number; inbox: IncomingMessage[] }> {
  const inbox: IncomingMessage[] = [];
  const p = await MessengerPeer.bind(LOOPBACK, {
    ...options,
    onMessage: (m) => {
      inbox.push(m);
      options.onMessage?.(m);
    },
  });
  t.after(() => p.close());
  return { peer: p, port: portOf(p.local), inbox };
}

function waitFor(inbox: IncomingMessage[], n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (inbox.length >= n) resolve();
      else setImmediate(check);
    };
    check();
  });
}

describe('messenger peers', () => {
  it('a message is delivered, acked and reported; contacts name the sender', T, async (t) => {
    const bob = await peer(t, { name: 'bob' });
    let got: (m: IncomingMessage) => void = () => undefined;
    const arrived = new Promise<IncomingMessage>((resolve) => (got = resolve));
    const alice = await peer(t, {
      name: 'alice',
      contacts: new Map([['bob', { host: '127.0.0.1', port: bob.port }]]),
      onMessage: (m) => {
        got(m);
      },
    });
    const delivery = await alice.peer.send('bob', 'hello bob');
    assert.equal(delivery.to, 'bob');
    assert.equal(delivery.attempts, 1);
    assert.match(delivery.id, /^[0-9a-f]{16}$/);
    assert.equal(bob.inbox.length, 1);
    assert.deepEqual(
      {
        id: bob.inbox[0]?.id,
        from: bob.inbox[0]?.from,
        text: bob.inbox[0]?.text,
        kind: bob.inbox[0]?.kind,
      },
      { id: delivery.id, from: 'alice', text: 'hello bob', kind: 'json' },
    );
    // Bob answers alice's address: alice sees it as from her contact bob.
    const back = bob.inbox[0]?.peer;
    assert.ok(back);
    await bob.peer.send(back, 'hi alice');
    const m = await arrived;
    assert.deepEqual([m.contact, m.from, m.text], ['bob', 'bob', 'hi alice']);
  });

  it('nobody answering ends in UNDELIVERED after the schedule', T, async (t) => {
    const mute = createSocket('udp4');
    mute.bind(0, '127.0.0.1');
    await once(mute, 'listening');
    t.after(() => mute.close());
    let sends = 0;
    mute.on('message', () => sends++);
    const alice = await peer(t, { retry: { initialMs: 20, maxMs: 40, attempts: 4 } });
    const started = performance.now();
    await assert.rejects(
      alice.peer.send({ host: '127.0.0.1', port: mute.address().port }, 'anyone?'),
      (e) => e instanceof ServiceError && e.code === 'UNDELIVERED',
    );
    // 20 + 40 + 40 + 40 ms of waiting (±10 %), and 4 sends.
    assert.ok(performance.now() - started >= 120);
    assert.equal(sends, 4);
    assert.equal(alice.peer.stats.retransmits, 3);
    await assert.rejects(
      alice.peer.send('carol', 'x'),
      (e) => e instanceof ServiceError && e.code === 'UNKNOWN_CONTACT',
    );
  });

  it('a duplicate is acked again but shown once; garbage is counted and ignored', T, async (t) => {
    const bob = await peer(t);
    const raw = createSocket('udp4');
    raw.bind(0, '127.0.0.1');
    await once(raw, 'listening');
    t.after(() => raw.close());
    const acks: string[] = [];
    raw.on('message', (m) => acks.push(m.toString()));
    const datagram = encodeMessage({ id: 'abc123', from: 'raw', text: 'once' });
    for (const bytes of [
      datagram,
      datagram,
      Buffer.from('{"type":"msg","id":"bad id!","text":"x"}'),
      Buffer.from([0xff, 0xfe, 0x00]),
      Buffer.alloc(9000, 0x61),
    ]) {
      raw.send(bytes, bob.port, '127.0.0.1');
    }
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (acks.length >= 2 && bob.peer.stats.malformed >= 3) resolve();
        else setTimeout(check, 5);
      };
      check();
    });
    assert.deepEqual(acks, ['{"type":"ack","id":"abc123"}', '{"type":"ack","id":"abc123"}']);
    assert.equal(bob.inbox.length, 1);
    assert.equal(bob.peer.stats.duplicates, 1);
    assert.equal(bob.peer.stats.malformed, 3);
  });

  it(
    'under 20% loss and 20% duplication each way, 200 messages arrive exactly once',
    { timeout: 30_000 },
    async (t) => {
      const bob = await peer(t, { rateLimit: false });
      const relay = await LossyUdpRelay.start(
        t,
        { host: '127.0.0.1', port: bob.port },
        { loss: 0.2, duplicate: 0.2, maxDelayMs: 5, seed: 0x5eed },
      );
      const alice = await peer(t, {
        contacts: new Map([['bob', { host: '127.0.0.1', port: relay.port }]]),
        retry: { initialMs: 30, maxMs: 200, attempts: 20 },
      });
      const sends = Array.from({ length: 200 }, (_, i) => alice.peer.send('bob', `message ${i}`));
      const deliveries = await Promise.all(sends);
      await waitFor(bob.inbox, 200);
      const texts = bob.inbox.map((m) => m.text).sort();
      const expected = Array.from({ length: 200 }, (_, i) => `message ${i}`).sort();
      assert.deepEqual(texts, expected, 'every message exactly once');
      assert.equal(new Set(bob.inbox.map((m) => m.id)).size, 200);
      assert.deepEqual(new Set(deliveries.map((d) => d.id)), new Set(bob.inbox.map((m) => m.id)));
      assert.ok(relay.stats.dropped > 0 && relay.stats.duplicated > 0);
      assert.ok(bob.peer.stats.duplicates > 0, 'duplicates reached bob and were dropped');
      assert.ok(alice.peer.stats.retransmits > 0);
    },
  );

  it(
    'python3: a plain datagram is a message from its address; the reply goes back as plain text',
    T,
    async (t) => {
      if (!requireTool(t, 'python3')) return;
      const bob = await peer(t, {
        onMessage: (m) => {
          if (m.kind === 'plain') void bob.peer.sendPlain(m.peer, `got: ${m.text}`);
        },
      });
      const script = [
        'import socket, sys',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        's.settimeout(5)',
        `s.sendto("héllo from python\\n".encode(), ("127.0.0.1", ${bob.port}))`,
        'data, addr = s.recvfrom(1024)',
        'print(data.decode())',
      ].join('\n');
      const r = await run(t, 'python3', ['-c', script]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'got: héllo from python\n');
      const [got] = bob.inbox;
      assert.ok(got);
      assert.deepEqual([got.kind, got.id, got.peer.host], ['plain', undefined, '127.0.0.1']);
    },
  );
});

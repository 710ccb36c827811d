import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RoomHistory } from '../../../src/services/chat/history.js';
import { FramedPeer, TextPeer, startChat, type Event } from '../../helpers/chat.js';

const T = { timeout: 15_000 };

const isMessage = (text: string) => (e: Event) => e.type === 'message' && e.text === text;

describe('chat history on join', () => {
  it(
    'a joining envelope client gets the last messages after its roster, marked, oldest first',
    T,
    async (t) => {
      const { tcp } = await startChat(t);
      const ann = await FramedPeer.connect(t, tcp);
      await ann.join('dev', 'ann');
      for (const text of ['one', 'two', 'three']) ann.send({ type: 'say', room: 'dev', text });
      const live = await ann.wait(isMessage('three'));

      const bob = await FramedPeer.connect(t, tcp);
      await bob.join('dev', 'bob');
      const past = await bob.wait(isMessage('three'), 'the history');
      const history = bob.events.items.filter((e) => e.type === 'message');
      assert.deepEqual(
        history.map((e) => [e.text, e.from, e.room, e.history]),
        [
          ['one', 'ann', 'dev', true],
          ['two', 'ann', 'dev', true],
          ['three', 'ann', 'dev', true],
        ],
      );
      assert.equal(past.id, live.id, 'history keeps the ids the room saw live');
      const types = bob.events.items.map((e) => e.type);
      assert.ok(types.indexOf('roster') < types.indexOf('message'), `order: ${types.join(' ')}`);

      ann.send({ type: 'say', room: 'dev', text: 'four' });
      const fresh = await bob.wait(isMessage('four'));
      assert.equal(fresh.history, undefined, 'a live message is not marked');
      assert.ok((fresh.id as number) > (past.id as number));

      // Joining a room one is in again sends the roster only.
      await bob.join('dev');
      ann.send({ type: 'say', room: 'dev', text: 'five' });
      await bob.wait(isMessage('five'));
      assert.equal(bob.events.items.filter((e) => e.history === true).length, 3);
    },
  );

  it('a client that reconnects can show each message once by its id', T, async (t) => {
    const { tcp } = await startChat(t);
    const ann = await FramedPeer.connect(t, tcp);
    await ann.join('dev', 'ann');
    const first = await FramedPeer.connect(t, tcp);
    await first.join('dev', 'page');
    ann.send({ type: 'say', room: 'dev', text: 'before' });
    await first.wait(isMessage('before'));
    first.socket.destroy();
    await ann.wait((e) => e.type === 'left' && e.nick === 'page');
    ann.send({ type: 'say', room: 'dev', text: 'while away' });
    await ann.wait(isMessage('while away'));

    const shown = new Map<number, string>();
    for (const e of first.events.items) {
      if (e.type === 'message') shown.set(e.id as number, e.text as string);
    }
    const again = await FramedPeer.connect(t, tcp);
    await again.join('dev', 'page');
    await again.wait(isMessage('while away'));
    for (const e of again.events.items) {
      if (e.type === 'message') shown.set(e.id as number, e.text as string);
    }
    assert.deepEqual([...shown.values()], ['before', 'while away']);
  });

  it(
    'keeps historyLimit messages per room, and keeps them while the room is empty',
    T,
    async (t) => {
      const { tcp } = await startChat(t, { historyLimit: 2 });
      const ann = await FramedPeer.connect(t, tcp);
      await ann.join('dev', 'ann');
      for (const text of ['a', 'b', 'c']) ann.send({ type: 'say', room: 'dev', text });
      await ann.wait(isMessage('c'));
      ann.send({ type: 'quit' });
      await ann.events.wait(() => false, 'the close').catch(() => undefined);

      const bob = await FramedPeer.connect(t, tcp);
      const roster = await bob.join('dev', 'bob');
      assert.deepEqual(roster.nicks, ['bob']);
      await bob.wait(isMessage('c'));
      assert.deepEqual(
        bob.events.items.filter((e) => e.history === true).map((e) => e.text),
        ['b', 'c'],
      );
    },
  );

  it('an nc user asks with /history; its join output is unchanged', T, async (t) => {
    const { tcp } = await startChat(t);
    const ann = await FramedPeer.connect(t, tcp);
    await ann.join('lobby', 'ann');
    ann.send({ type: 'say', room: 'lobby', text: 'hello <b>\u001b[2J' });
    await ann.wait((e) => e.type === 'message');

    const nc = await TextPeer.connect(t, tcp);
    nc.line('/who');
    await nc.waitLine('* #lobby: ann guest2');
    nc.line('/history');
    await nc.waitLine('* end of #lobby history');
    const from = nc.lines.items.indexOf('* #lobby: the last 1 messages');
    assert.ok(from >= 0, nc.lines.items.join('\n'));
    assert.deepEqual(nc.lines.items.slice(from), [
      '* #lobby: the last 1 messages',
      '#lobby <ann> hello <b>\\x1b[2J',
      '* end of #lobby history',
    ]);
    // Nothing of the history was shown on join.
    assert.equal(nc.lines.items.filter((l) => l.includes('<ann>')).length, 1);

    nc.line('/history nowhere');
    await nc.waitLine('* #nowhere: the last 0 messages');
    nc.line('/history a b');
    await nc.waitLine('error BAD_REQUEST: usage: /history [ROOM]');
  });
});

describe('RoomHistory', () => {
  it('property: bounded per room and in memory, newest kept, oldest of the server forgotten first', () => {
    const message = fc.record({
      room: fc.constantFrom('a', 'b', 'c', 'd'),
      text: fc.string({ maxLength: 200 }),
    });
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 400 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 300, max: 6000 }),
        (messages, perRoom, maxBytes) => {
          const history = new RoomHistory(perRoom, maxBytes);
          const all: { id: number; room: string; text: string }[] = [];
          messages.forEach((m, i) => {
            const stored = { id: i + 1, room: m.room, from: 'x', text: m.text, ts: 0 };
            history.add(stored);
            all.push(stored);
            const size = history.size;
            assert.ok(size.bytes <= maxBytes || size.messages === 0, `bytes ${size.bytes}`);
            // The newest is kept unless it alone is over the bound.
            const last = history.last(m.room, perRoom).at(-1);
            if (2 * (m.text.length + 1) + 64 <= maxBytes) assert.equal(last?.id, stored.id);
          });
          let held = 0;
          for (const room of ['a', 'b', 'c', 'd']) {
            const kept = history.last(room, 1000);
            held += kept.length;
            assert.ok(kept.length <= perRoom);
            // What a room keeps is its newest messages, in order, with no gaps.
            const ofRoom = all.filter((m) => m.room === room);
            assert.deepEqual(
              kept.map((m) => m.id),
              ofRoom.slice(ofRoom.length - kept.length).map((m) => m.id),
            );
          }
          assert.equal(held, history.size.messages);
        },
      ),
    );
  });

  it('a million messages through one busy room leave bounded bookkeeping', () => {
    const history = new RoomHistory(100, 1 << 20);
    history.add({ id: 0, room: 'quiet', from: 'x', text: 'first', ts: 0 });
    for (let i = 1; i <= 1_000_000; i++) {
      history.add({ id: i, room: 'busy', from: 'x', text: 'm', ts: 0 });
    }
    assert.deepEqual(history.size, { messages: 101, bytes: 101 * 68 + 8, rooms: 2 });
    assert.ok(history['order'].length - history['head'] <= 2 * 101 + 64 + 1);
  });
});

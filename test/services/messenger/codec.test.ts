import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SockitError } from '../../../src/index.js';
import {
  decodeDatagram,
  encodeAck,
  encodeMessage,
  parseContact,
  parseContacts,
  retryDelay,
  DEFAULT_RETRY,
} from '../../../src/services/messenger/internal.js';

describe('messenger datagram codec', () => {
  it('message and ack round-trip; plain text is plain', () => {
    assert.deepEqual(decodeDatagram(encodeMessage({ id: 'a1', from: 'al', text: 'hi', ts: 5 })), {
      kind: 'msg',
      id: 'a1',
      from: 'al',
      text: 'hi',
      ts: 5,
    });
    assert.deepEqual(decodeDatagram(encodeAck('a1')), { kind: 'ack', id: 'a1' });
    assert.deepEqual(decodeDatagram(Buffer.from('hello\r\n')), { kind: 'plain', text: 'hello' });
    assert.deepEqual(decodeDatagram(Buffer.from('{"not":"ours"}')), {
      kind: 'plain',
      text: '{"not":"ours"}',
    });
    assert.throws(() => decodeDatagram(Buffer.from('\n')), { code: 'BAD_REQUEST' });
    assert.throws(() => decodeDatagram(Buffer.from('{"type":"ack"}')), { code: 'BAD_REQUEST' });
    assert.throws(() => decodeDatagram(Buffer.alloc(5000, 0x61)), { code: 'MESSAGE_TOO_LONG' });
    assert.throws(() => decodeDatagram(Buffer.alloc(9000, 0x61)), { code: 'DATAGRAM_TOO_LARGE' });
  });

  it('a truncated message is dropped as damaged, never shown as plain text', () => {
    const whole = encodeMessage({ id: 'ab12', from: 'al', text: 'hello there' });
    for (let cut = 1; cut < whole.length; cut++) {
      const piece = whole.subarray(0, cut);
      let decoded;
      try {
        decoded = decodeDatagram(piece);
      } catch (err) {
        assert.ok(err instanceof SockitError);
        assert.equal(err.code, 'BAD_REQUEST');
        continue;
      }
      // Only cuts too short to look like ours (`{"ty`) may pass as text.
      assert.equal(decoded.kind, 'plain');
      assert.ok(cut < '{"type":"msg"'.length, `cut at ${cut} shown as plain text`);
    }
  });

  it('the retransmission schedule doubles up to its cap', () => {
    const waits = [1, 2, 3, 4, 5, 6, 7].map((n) => retryDelay(DEFAULT_RETRY, n));
    assert.deepEqual(waits, [200, 400, 800, 1600, 2000, 2000, 2000]);
  });

  it('contacts from flags and files', () => {
    assert.deepEqual(parseContact('bob=127.0.0.1:7196'), [
      'bob',
      { host: '127.0.0.1', port: 7196 },
    ]);
    assert.deepEqual(
      [...parseContacts('{"amy":"[::1]:7000","cy":"localhost"}')],
      [
        ['amy', { host: '::1', port: 7000 }],
        ['cy', { host: 'localhost', port: 7195 }],
      ],
    );
    assert.throws(() => parseContact('bob'), { code: 'BAD_OPTION' });
    assert.throws(() => parseContacts('[1]'), { code: 'BAD_OPTION' });
    assert.throws(() => parseContacts('{"a b":"x:1"}'), { code: 'BAD_OPTION' });
  });

  it('property: any bytes decode or fail with a typed error', () => {
    const jsonish = fc
      .record(
        {
          type: fc.constantFrom('msg', 'ack', 'other'),
          id: fc.oneof(fc.stringMatching(/^[0-9a-f]{0,20}$/), fc.string(), fc.integer()),
          text: fc.oneof(fc.string(), fc.integer()),
          from: fc.oneof(fc.string(), fc.constant(null)),
        },
        { requiredKeys: [] },
      )
      .map((o) => Buffer.from(JSON.stringify(o)));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
          jsonish,
        ),
        (bytes) => {
          try {
            decodeDatagram(bytes);
          } catch (err) {
            assert.ok(err instanceof SockitError, String(err));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('property: every message encodes to a datagram that decodes to itself', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9a-f]{16}$/),
        fc.string({ minLength: 1, maxLength: 500 }),
        (id, text) => {
          const d = decodeDatagram(encodeMessage({ id, text }));
          assert.deepEqual(d, { kind: 'msg', id, from: undefined, text, ts: undefined });
        },
      ),
    );
  });
});

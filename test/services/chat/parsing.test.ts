import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SockitError, escapeText } from '../../../src/index.js';
import {
  canonicalRoom,
  checkNick,
  parseChatRequest,
  parseTextLine,
} from '../../../src/services/chat/internal.js';

/** Runs `fn`; a throw must be a SockitError (typed, with a code). */
function typedOnly(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof SockitError)) throw err;
  }
}

const lineChars = fc.string({ unit: 'binary', maxLength: 200 });
const commandish = fc
  .tuple(
    fc.constantFrom(
      '/nick',
      '/join',
      '/part',
      '/msg',
      '/who',
      '/quit',
      '/help',
      '/x',
      '//',
      '/',
      '',
    ),
    fc.string({ maxLength: 3, unit: fc.constantFrom(' ', '\t', '\r') }),
    lineChars,
  )
  .map(([a, b, c]) => `${a}${b}${c}`);

describe('chat text lines and requests', () => {
  it('parses the IRC-like commands', () => {
    assert.deepEqual(parseTextLine('hello /there'), { kind: 'say', text: 'hello /there' });
    assert.deepEqual(parseTextLine('//not a command'), { kind: 'say', text: '/not a command' });
    assert.deepEqual(parseTextLine('/NICK bob'), { kind: 'nick', nick: 'bob' });
    assert.deepEqual(parseTextLine('/msg bob  two  spaces '), {
      kind: 'msg',
      to: 'bob',
      text: 'two  spaces', // inner spacing kept, the ends trimmed
    });
    assert.deepEqual(parseTextLine('/part'), { kind: 'part', room: undefined });
    assert.deepEqual(parseTextLine('/quit bye now'), { kind: 'quit', text: 'bye now' });
    assert.deepEqual(parseTextLine('   '), { kind: 'none' });
    assert.throws(() => parseTextLine('/msg bob'), { code: 'BAD_REQUEST' });
    assert.throws(() => parseTextLine('/frobnicate'), { code: 'BAD_REQUEST' });
    assert.equal(canonicalRoom('#Lobby'), 'lobby');
    assert.throws(() => canonicalRoom('a b'), { code: 'BAD_ROOM' });
    assert.throws(() => checkNick(''), { code: 'BAD_NICK' });
    assert.throws(() => checkNick('x'.repeat(10_000)), { code: 'BAD_NICK' });
  });

  it('property: any line parses or fails with a typed error', () => {
    fc.assert(
      fc.property(fc.oneof(lineChars, commandish), (line) => {
        typedOnly(() => parseTextLine(line));
      }),
      { numRuns: 2000 },
    );
  });

  it('property: any JSON object validates as a request or fails with BAD_REQUEST', () => {
    const request = fc.record(
      {
        type: fc.constantFrom(
          'join',
          'say',
          'msg',
          'who',
          'leave',
          'nick',
          'ping',
          'pong',
          'quit',
          'x',
        ),
        room: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        nick: fc.oneof(fc.string(), fc.constant(undefined)),
        to: fc.string(),
        text: fc.oneof(fc.string(), fc.integer()),
        ref: fc.oneof(fc.string(), fc.double(), fc.object()),
      },
      { requiredKeys: ['type'] },
    );
    fc.assert(
      fc.property(fc.oneof(request, fc.object()), (header) => {
        try {
          parseChatRequest(header);
        } catch (err) {
          assert.ok(err instanceof SockitError);
          assert.equal(err.code, 'BAD_REQUEST');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('property: escaped text has no control characters and no bidi overrides', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const safe = escapeText(text);
        // eslint-disable-next-line no-control-regex
        assert.doesNotMatch(safe, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
        if (
          // eslint-disable-next-line no-control-regex
          !/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(text)
        ) {
          assert.equal(safe, text);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

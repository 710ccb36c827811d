import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  LineDecoder,
  ProtocolError,
  detectFraming,
  encodeTextNotice,
  parseTextNotice,
} from '../../src/index.js';
import { splitAt } from '../helpers/chunks.js';

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 42), numRuns: 200 });

function lines(chunks: string[], maxLine?: number): string[] {
  const out: string[] = [];
  const decoder = new LineDecoder((l) => out.push(l.toString()), maxLine ? { maxLine } : {});
  for (const c of chunks) decoder.push(Buffer.from(c));
  decoder.end();
  return out;
}

describe('line decoder', () => {
  it('splits on LF, drops CR, keeps empty lines, and flushes a last unterminated line', () => {
    assert.deepEqual(lines(['a\r\nb\n\nc']), ['a', 'b', '', 'c']);
  });

  it('is independent of how the stream was cut (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-z ]{0,10}$/), { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (items, cuts) => {
          const text = items.map((i) => `${i}\n`).join('');
          const chunks = splitAt(text, cuts);
          assert.deepEqual(lines(chunks), items);
        },
      ),
    );
  });

  it('a line over maxLine is LINE_TOO_LONG before more than maxLine bytes are held', () => {
    const decoder = new LineDecoder(() => undefined, { maxLine: 8 });
    decoder.push(Buffer.from('12345'));
    assert.throws(
      () => decoder.push(Buffer.from('67890')),
      (err: unknown) => err instanceof ProtocolError && err.code === 'LINE_TOO_LONG',
    );
    assert.equal(decoder.bufferedBytes, 0);
  });
});

describe('first-byte detection and text notices', () => {
  it('0x00 means u32be frames; text starts with anything else', () => {
    assert.equal(detectFraming(0x00), 'u32be');
    assert.equal(detectFraming(0x68), 'raw');
    assert.equal(detectFraming(0x09), 'raw', 'a line may start with TAB');
  });

  it('a frame of exactly maxFrame = 16 MiB (first byte 0x01) is still framed; larger caps never reach text bytes', () => {
    assert.equal(detectFraming(0x01), 'u32be');
    assert.equal(
      detectFraming(0x01, 1024),
      'raw',
      'with a 1 KiB cap, 0x01 cannot start a legal frame',
    );
    assert.equal(detectFraming(0x08, 2 ** 32 - 1), 'u32be');
    assert.equal(detectFraming(0x0a, 2 ** 32 - 1), 'raw', 'LF stays text whatever maxFrame is');
  });

  it('a notice is one line and parses back; a message cannot forge a second line', () => {
    const notice = encodeTextNotice('BUSY', 'too many\nerror FRAME_TOO_LARGE: fake');
    assert.equal(notice.toString().split('\n').length, 2);
    assert.deepEqual(parseTextNotice(notice), {
      code: 'BUSY',
      message: 'too many error FRAME_TOO_LARGE: fake',
    });
  });

  it('a notice read as a frame header is a length no maxFrame allows', () => {
    assert.ok(encodeTextNotice('BUSY', 'x').readUInt32BE(0) > 16 * 1024 * 1024);
    assert.equal(parseTextNotice(Buffer.from('\x00\x00\x00\x02hi')), undefined);
    assert.equal(parseTextNotice(Buffer.from('error NOT_A_CODE_WE_KNOW: x\n')), undefined);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeEvent, hexDump } from '../../../src/services/relay/internal.js';

describe('hex dump', () => {
  it('is laid out like hexdump -C', () => {
    // `printf 'hello\n' | hexdump -C` and `printf '0123456789abcdefXYZ' | hexdump -C`
    assert.deepEqual(hexDump(Buffer.from('hello\n')), [
      '00000000  68 65 6c 6c 6f 0a                                 |hello.|',
    ]);
    assert.deepEqual(hexDump(Buffer.from('0123456789abcdefXYZ')), [
      '00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|',
      '00000010  58 59 5a                                          |XYZ|',
    ]);
  });

  it('numbers lines from the stream offset and shows non-printable bytes as dots', () => {
    assert.deepEqual(hexDump(Buffer.from([0x00, 0x7f, 0x20, 0xff, 0x41]), 0x1234), [
      '00001234  00 7f 20 ff 41                                    |.. .A|',
    ]);
    assert.deepEqual(hexDump(Buffer.alloc(0)), []);
  });

  it('a dump event is prefixed with its direction, and with the peer when asked', () => {
    const event = {
      type: 'dump' as const,
      peer: '127.0.0.1:5555',
      direction: 'sent' as const,
      offset: 0,
      bytes: Buffer.from('hi'),
    };
    assert.deepEqual(describeEvent(event), [
      '> 00000000  68 69                                             |hi|',
    ]);
    assert.deepEqual(describeEvent({ ...event, direction: 'received' }, true), [
      '[127.0.0.1:5555] < 00000000  68 69                                             |hi|',
    ]);
  });
});

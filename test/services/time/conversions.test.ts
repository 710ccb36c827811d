import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ProtocolError,
  decodeRfc868,
  decodeUnix32,
  encodeRfc868,
  encodeUnix32,
  parseSntpPacket,
} from '../../../src/index.js';
import {
  ERA1_START_UNIX,
  fromNtpTimestamp,
  offsetAndDelay,
  toNtpTimestamp,
} from '../../../src/services/time/internal.js';

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 42), numRuns: 300 });

const ms = (iso: string): number => Date.parse(iso);

describe('RFC 868 and unix32 at the edges', () => {
  it('1970-01-01 is 2 208 988 800 (83 AA 7E 80) in RFC 868 and 0 in unix32', () => {
    assert.equal(encodeRfc868(0).toString('hex'), '83aa7e80');
    assert.equal(encodeUnix32(0).toString('hex'), '00000000');
  });

  it('2036-02-07 06:28:16 UTC: RFC 868 wraps to 0, and decodes back to 2036, not 1900', () => {
    const wrap = ms('2036-02-07T06:28:16Z');
    assert.equal(wrap / 1000, ERA1_START_UNIX);
    assert.equal(encodeRfc868(wrap).toString('hex'), '00000000');
    assert.equal(encodeRfc868(wrap - 1000).toString('hex'), 'ffffffff');
    assert.equal(decodeRfc868(encodeRfc868(wrap)), ERA1_START_UNIX);
    assert.equal(decodeRfc868(encodeRfc868(wrap - 1000)), ERA1_START_UNIX - 1);
    assert.equal(decodeRfc868(encodeRfc868(wrap + 1000)), ERA1_START_UNIX + 1);
  });

  it('2106-02-07 06:28:16 UTC: unix32 wraps to 0', () => {
    const wrap = ms('2106-02-07T06:28:16Z');
    assert.equal(encodeUnix32(wrap).toString('hex'), '00000000');
    assert.equal(decodeUnix32(encodeUnix32(wrap - 1000)), 2 ** 32 - 1);
  });

  it('RFC 868 round-trips every second from 1968 to 2104 (the RFC 4330 window)', () => {
    fc.assert(
      fc.property(
        fc.integer({
          min: ms('1968-01-20T03:14:08Z') / 1000,
          max: ms('2104-02-26T09:42:23Z') / 1000,
        }),
        (seconds) => {
          assert.equal(decodeRfc868(encodeRfc868(seconds * 1000)), seconds);
        },
      ),
    );
  });

  it('NTP timestamps keep sub-millisecond resolution and the era rule', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: ms('2100-01-01T00:00:00Z'), noNaN: true }), (t) => {
        assert.ok(Math.abs(fromNtpTimestamp(toNtpTimestamp(t)) - t) < 0.001);
      }),
    );
    const wrap = ERA1_START_UNIX * 1000;
    assert.equal(toNtpTimestamp(wrap).toString('hex'), '0000000000000000');
    assert.ok(
      Math.abs(fromNtpTimestamp(toNtpTimestamp(wrap + 0.5)) - (wrap + 0.5)) < 0.001,
      'just after the wrap is 2036, not 1900',
    );
  });

  it('offset and delay follow RFC 4330 §5', () => {
    // Client sends at 0, server receives at 110 and sends at 120, client receives at 30: server is 100 ms ahead, 20 ms of network.
    assert.deepEqual(offsetAndDelay(0, 110, 120, 30), { offsetMs: 100, delayMs: 20 });
  });

  it('the SNTP parser takes any bytes and returns a packet or a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        try {
          const packet = parseSntpPacket(Buffer.from(bytes));
          assert.ok(bytes.length >= 48);
          assert.ok(packet.mode >= 0 && packet.mode <= 7);
        } catch (err) {
          assert.ok(err instanceof ProtocolError);
          assert.ok(bytes.length < 48);
        }
      }),
    );
  });
});

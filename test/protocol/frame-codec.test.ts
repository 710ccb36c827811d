import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  FrameDecoder,
  ProtocolError,
  encodeFrame,
  encodeFrameHeader,
  type ByteOrder,
} from '../../src/index.js';
import { frameToBuffer } from '../../src/internal.js';
import { splitAt } from '../helpers/chunks.js';

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 42), numRuns: 300 });

/** Golden fixtures: bytes on the wire ↔ the messages they carry (docs/PROTOCOL.md). */
const GOLDEN: { name: string; order: ByteOrder; hex: string; frames: string[] }[] = [
  { name: 'one frame "hi"', order: 'u32be', hex: '00000002 6869', frames: ['hi'] },
  { name: 'a zero-length frame is a message', order: 'u32be', hex: '00000000', frames: [''] },
  {
    name: 'two frames in one chunk (the sticky packet)',
    order: 'u32be',
    hex: '00000005 68656c6c6f 00000005 776f726c64',
    frames: ['hello', 'world'],
  },
  { name: 'little-endian "hi"', order: 'u32le', hex: '02000000 6869', frames: ['hi'] },
  {
    name: 'empty between non-empty',
    order: 'u32be',
    hex: '00000001 61 00000000 00000001 62',
    frames: ['a', '', 'b'],
  },
  { name: 'UTF-8 bytes pass through', order: 'u32be', hex: '00000002 c3a9', frames: ['é'] },
];

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function decodeAll(
  chunks: Buffer[],
  options: { byteOrder?: ByteOrder; maxFrame?: number } = {},
): Buffer[] {
  const out: Buffer[] = [];
  const decoder = new FrameDecoder((p) => {
    out.push(Buffer.from(p));
  }, options);
  for (const chunk of chunks) decoder.push(chunk);
  decoder.end(); // nothing may be left over
  return out;
}

/**
 * Decodes `chunks` as the echo server does: each payload used (copied here,
 * after `use`) during its handler call, then the split frame's assembly
 * buffer given back to the pool after each chunk.
 */
function decodeRecycling(
  chunks: Buffer[],
  byteOrder: ByteOrder,
  use?: (payload: Buffer, decoder: FrameDecoder) => void,
): Buffer[] {
  const out: Buffer[] = [];
  const decoder: FrameDecoder = new FrameDecoder(
    (p) => {
      out.push(Buffer.from(p));
      use?.(p, decoder);
    },
    { byteOrder, recycle: true },
  );
  for (const chunk of chunks) {
    decoder.push(chunk);
    assert.equal(decoder.headroom, false, 'headroom only during a handler call');
    const assembled = decoder.takeAssembled();
    if (assembled) FrameDecoder.recycle(assembled);
  }
  decoder.end();
  return out;
}

function encodeAll(payloads: Uint8Array[], byteOrder: ByteOrder = 'u32be'): Buffer {
  return Buffer.concat(payloads.map((p) => frameToBuffer(p, { byteOrder })));
}

describe('frame codec: golden fixtures, four ways', () => {
  for (const fixture of GOLDEN) {
    const wire = hex(fixture.hex);
    const payloads = fixture.frames.map((f) => Buffer.from(f));
    it(`${fixture.name}: decodes`, () => {
      assert.deepEqual(decodeAll([wire], { byteOrder: fixture.order }), payloads);
    });
    it(`${fixture.name}: encodes`, () => {
      assert.deepEqual(encodeAll(payloads, fixture.order), wire);
    });
    it(`${fixture.name}: round-trips`, () => {
      assert.deepEqual(
        decodeAll([encodeAll(payloads, fixture.order)], { byteOrder: fixture.order }),
        payloads,
      );
    });
    it(`${fixture.name}: decodes one byte at a time`, () => {
      const bytes = [...wire].map((b) => Buffer.from([b]));
      assert.deepEqual(decodeAll(bytes, { byteOrder: fixture.order }), payloads);
    });
  }
});

describe('frame decoder limits', () => {
  it('a FF FF FF FF length is FRAME_TOO_LARGE on the 4th header byte, before any payload is buffered', () => {
    const decoder = new FrameDecoder(() => assert.fail('no frame expected'));
    decoder.push(Buffer.from([0xff, 0xff, 0xff]));
    assert.equal(decoder.bufferedBytes, 3);
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(
      () => decoder.push(Buffer.concat([Buffer.from([0xff]), Buffer.alloc(1024 * 1024)])),
      (err: unknown) => err instanceof ProtocolError && err.code === 'FRAME_TOO_LARGE',
    );
    // The 1 MiB chunk itself was allocated by the test; nothing near 4 GiB was.
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
    assert.equal(decoder.bufferedBytes, 0);
  });

  it('0x80000000 is a large length, never a negative one', () => {
    const decoder = new FrameDecoder(() => assert.fail('no frame expected'));
    assert.throws(
      () => decoder.push(Buffer.from([0x80, 0, 0, 0])),
      (err: unknown) => err instanceof ProtocolError && err.code === 'FRAME_TOO_LARGE',
    );
  });

  it('accepts exactly maxFrame and refuses maxFrame + 1', () => {
    const max = 1000;
    assert.equal(decodeAll([encodeAll([Buffer.alloc(max, 7)])], { maxFrame: max })[0]?.length, max);
    assert.throws(
      () => decodeAll([encodeAll([Buffer.alloc(max + 1)])], { maxFrame: max }),
      (err: unknown) => err instanceof ProtocolError && err.code === 'FRAME_TOO_LARGE',
    );
  });

  it('the encoder refuses an oversize payload before writing anything', () => {
    assert.throws(
      () => encodeFrame(Buffer.alloc(11), { maxFrame: 10 }),
      (err: unknown) => err instanceof ProtocolError && err.code === 'FRAME_TOO_LARGE',
    );
    assert.throws(() => encodeFrameHeader(2 ** 32), ProtocolError);
  });

  it('bytes left at end of stream are INCOMPLETE, and the partial frame is never delivered', () => {
    const seen: Buffer[] = [];
    const decoder = new FrameDecoder((p) => seen.push(p));
    decoder.push(hex('000f4240')); // declares 1 000 000 bytes
    decoder.push(Buffer.alloc(1000));
    assert.throws(
      () => decoder.end(),
      (err: unknown) => err instanceof ProtocolError && err.code === 'INCOMPLETE',
    );
    assert.equal(seen.length, 0);
    const headerOnly = new FrameDecoder(() => undefined);
    headerOnly.push(Buffer.from([0, 0]));
    assert.throws(
      () => headerOnly.end(),
      (err: unknown) => err instanceof ProtocolError && err.code === 'INCOMPLETE',
    );
  });

  it('a 4-byte claim of a large frame holds memory for what arrived, not for the claim', () => {
    const decoder = new FrameDecoder(() => undefined, { maxFrame: 16 * 1024 * 1024 });
    decoder.push(hex('00ffffff 00'));
    assert.equal(decoder.bufferedBytes, 5);
    assert.equal(decoder.inFrame, true);
  });

  it('payloads inside one chunk are views on it; payloads across chunks are copies', () => {
    const wire = encodeAll([Buffer.from('abc'), Buffer.from('defgh')]);
    const first = wire.subarray(0, 12); // frame 1 whole, frame 2 cut after "d"
    const second = Buffer.from(wire.subarray(12));
    const got: Buffer[] = [];
    const decoder = new FrameDecoder((p) => got.push(p));
    decoder.push(first);
    decoder.push(second);
    assert.equal(got[0]?.buffer, first.buffer, 'frame 1 shares the chunk memory');
    second.fill(0); // reuse the source buffer: frame 2 must not change
    assert.equal(got[1]?.toString(), 'defgh');
  });

  it('a handler returning false stops right after its frame, so the rest can go elsewhere', () => {
    const decoder = new FrameDecoder(() => false);
    const wire = Buffer.concat([encodeAll([Buffer.from('head')]), Buffer.from('raw body')]);
    assert.equal(decoder.push(wire), 8);
    assert.equal(decoder.inFrame, false);
  });
});

describe('frame decoder properties', () => {
  const payload = fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(0, 1, 3, 4, 5).map((n) => new Uint8Array(n).fill(n)) },
    { weight: 4, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 60_000, maxLength: 70_000 }) },
  );
  const order = fc.constantFrom<ByteOrder>('u32be', 'u32le');

  it('any payload list, any chunking: the same frames come out in order', () => {
    fc.assert(
      fc.property(
        fc.array(payload, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        order,
        (payloads, cuts, byteOrder) => {
          const wire = encodeAll(payloads, byteOrder);
          const decoded = decodeAll(splitAt(wire, cuts), { byteOrder });
          assert.deepEqual(
            decoded.map((b) => Buffer.from(b)),
            payloads.map((p) => Buffer.from(p)),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('with recycling, assembly buffers given back after each chunk never corrupt a frame', () => {
    const mid = fc.uint8Array({ minLength: 4_000, maxLength: 70_000 });
    fc.assert(
      fc.property(
        fc.array(fc.oneof(payload, mid), { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        order,
        (payloads, cuts, byteOrder) => {
          assert.deepEqual(
            decodeRecycling(splitAt(encodeAll(payloads, byteOrder), cuts), byteOrder),
            payloads.map((p) => Buffer.from(p)),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a recycled 64 KiB assembly buffer serves the next split frame; without recycle none is kept', () => {
    const halves = (size: number, fill: number): Buffer[] => {
      const wire = encodeAll([new Uint8Array(size).fill(fill)]);
      return [wire.subarray(0, 20_000), wire.subarray(20_000)];
    };
    const seen: Buffer[] = [];
    const decoder = new FrameDecoder((p) => seen.push(p), { recycle: true });
    for (const half of halves(65_536, 7)) decoder.push(half);
    const first = decoder.takeAssembled();
    assert.ok(first && seen[0]?.buffer === first.buffer);
    assert.equal(decoder.takeAssembled(), undefined, 'handed out once');
    FrameDecoder.recycle(first);
    // A smaller split frame (4-64 KiB) takes the spare rather than a fresh buffer.
    for (const half of halves(50_000, 9)) decoder.push(half);
    assert.equal(seen[1]?.buffer, first.buffer, 'the second frame reused the first buffer');
    assert.deepEqual(seen[1], Buffer.alloc(50_000, 9));
    // With no spare left, a frame gets a buffer of its own size, which is not pooled.
    for (const half of halves(50_000, 3)) decoder.push(half);
    const own = decoder.takeAssembled();
    assert.equal(own?.length, 4 + 50_000, 'its size and 4 bytes of headroom');

    const plain = new FrameDecoder(() => undefined);
    for (const half of halves(65_536, 1)) plain.push(half);
    assert.equal(plain.takeAssembled(), undefined);
  });

  it('one chunk, byte by byte and coalesced give identical output', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), (payloads) => {
        const wire = encodeAll(payloads);
        const whole = decodeAll([wire]);
        const bytes = decodeAll([...wire].map((b) => Buffer.from([b])));
        assert.deepEqual(bytes, whole);
        assert.equal(whole.length, payloads.length);
      }),
    );
  });

  it('random garbage: only frames, need-more, or a typed error; buffered bytes stay bounded', () => {
    const maxFrame = 4096;
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 20_000 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (bytes, cuts) => {
          const decoder = new FrameDecoder(() => undefined, { maxFrame });
          try {
            for (const chunk of splitAt(Buffer.from(bytes), cuts)) {
              decoder.push(chunk);
              assert.ok(decoder.bufferedBytes <= maxFrame + 4);
            }
            decoder.end();
          } catch (err) {
            assert.ok(err instanceof ProtocolError, `untyped error: ${String(err)}`);
            assert.ok(['FRAME_TOO_LARGE', 'INCOMPLETE'].includes(err.code));
          }
        },
      ),
    );
  });

  it('a 3 MiB frame in 1000-byte chunks arrives whole', () => {
    const payloadBytes = Buffer.alloc(3 * 1024 * 1024, 0x5a);
    const wire = encodeAll([payloadBytes]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < wire.length; i += 1000) chunks.push(wire.subarray(i, i + 1000));
    const [out] = decodeAll(chunks);
    assert.ok(out?.equals(payloadBytes));
  });
});

describe('frame decoder headroom', () => {
  it('any chunking: the 4 bytes before a payload said to have headroom are the frame’s own to overwrite', () => {
    // Like the echo server writing its reply's header there: scribbling on
    // them must never change this frame, a later frame, or a split one.
    const payload = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ minLength: 4_000, maxLength: 70_000 }),
    );
    fc.assert(
      fc.property(
        fc.array(payload, { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.constantFrom<ByteOrder>('u32be', 'u32le'),
        (payloads, cuts, byteOrder) => {
          const scribble = (p: Buffer, decoder: FrameDecoder): void => {
            if (!decoder.headroom) return;
            const source = decoder.source;
            assert.ok(source !== undefined && p.byteOffset - 4 >= source.byteOffset);
            Buffer.from(p.buffer, p.byteOffset - 4, 4).fill(0xee);
          };
          assert.deepEqual(
            decodeRecycling(splitAt(encodeAll(payloads, byteOrder), cuts), byteOrder, scribble),
            payloads.map((p) => Buffer.from(p)),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('is true for a frame inside one read and for an assembled one, false when only the header was split', () => {
    const seen: boolean[] = [];
    const decoder: FrameDecoder = new FrameDecoder(() => seen.push(decoder.headroom));
    const bytes = Buffer.concat([
      frameToBuffer(Buffer.from('one')),
      frameToBuffer(Buffer.from('two two')),
      frameToBuffer(Buffer.alloc(3000, 0x61)),
    ]);
    // A whole frame, a split header with the body in the next read, then a split body.
    for (const [from, to] of [
      [0, 9],
      [9, 20],
      [20, 1000],
      [1000, bytes.length],
    ] as const) {
      decoder.push(bytes.subarray(from, to));
    }
    assert.deepEqual(seen, [true, false, true]);
  });
});

describe('frame decoder source', () => {
  it('is the Buffer each payload is a view of during its handler call, and nothing after', () => {
    const seen: { payload: Buffer; source: Buffer | undefined }[] = [];
    const decoder: FrameDecoder = new FrameDecoder((payload) => {
      seen.push({ payload, source: decoder.source });
    });
    const bytes = Buffer.concat([
      frameToBuffer(Buffer.from('one')),
      frameToBuffer(Buffer.from('two two')),
      frameToBuffer(Buffer.alloc(3000, 0x61)),
    ]);
    // A whole frame, a split header with the body in the next read, then a split body.
    const chunks = [
      bytes.subarray(0, 9),
      bytes.subarray(9, 20),
      bytes.subarray(20, 1000),
      bytes.subarray(1000),
    ];
    for (const chunk of chunks) {
      decoder.push(chunk);
      assert.equal(decoder.source, undefined, 'no source kept between reads');
    }
    assert.deepEqual(
      seen.map((s) => s.payload.toString().slice(0, 5)),
      ['one', 'two t', 'aaaaa'],
    );
    for (const { payload, source } of seen) {
      assert.ok(source !== undefined);
      assert.equal(payload.buffer, source.buffer, 'the payload lies in its source');
      assert.ok(payload.byteOffset >= source.byteOffset);
      assert.ok(payload.byteOffset + payload.length <= source.byteOffset + source.length);
    }
    assert.equal(seen[0]?.source, chunks[0]);
    assert.equal(seen[1]?.source, chunks[1]);
  });
});

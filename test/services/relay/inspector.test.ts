import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ProtocolError,
  ReadInspector,
  type ByteOrder,
  type ReadReport,
} from '../../../src/index.js';
import { describeRead } from '../../../src/services/relay/internal.js';
import { frameToBuffer } from '../../../src/internal.js';
import { splitAt } from '../../helpers/chunks.js';

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 42), numRuns: 300 });

function frames(payloads: (string | Buffer)[], byteOrder: ByteOrder = 'u32be'): Buffer {
  return Buffer.concat(
    payloads.map((p) => frameToBuffer(typeof p === 'string' ? Buffer.from(p) : p, { byteOrder })),
  );
}

/** Feeds each chunk as one read; returns the report lines and the frames delivered. */
function inspect(
  chunks: Buffer[],
  options: { framing?: ByteOrder; maxFrame?: number } = { framing: 'u32be' },
): { lines: string[]; reports: ReadReport[]; delivered: { frame: number; payload: Buffer }[] } {
  const delivered: { frame: number; payload: Buffer }[] = [];
  const inspector = new ReadInspector((payload, frame) => {
    delivered.push({ frame, payload: Buffer.from(payload) });
  }, options);
  const reports = chunks.map((chunk) => inspector.push(chunk));
  inspector.end();
  return { lines: reports.map(describeRead), reports, delivered };
}

describe('read inspector: the two classic cases', () => {
  it('two small sends coalesced into one read: one read, two frames', () => {
    const { lines, delivered } = inspect([frames(['hello', 'world'])]);
    assert.deepEqual(lines, ['read 1: 18 B → frame 1 complete (5 B), frame 2 complete (5 B)']);
    assert.deepEqual(
      delivered.map((d) => [d.frame, d.payload.toString()]),
      [
        [1, 'hello'],
        [2, 'world'],
      ],
    );
  });

  it('one 10 KiB send read in 4 KiB pieces: started, continued, complete', () => {
    const wire = frames([Buffer.alloc(10240, 0x61)]);
    const { lines, delivered } = inspect(splitAt(wire, [4096, 8192]));
    assert.deepEqual(lines, [
      'read 1: 4096 B → frame 1 started, 4092/10240 B',
      'read 2: 4096 B → frame 1 continued, 8188/10240 B',
      'read 3: 2052 B → frame 1 complete (10240 B, 3 reads)',
    ]);
    assert.equal(delivered.length, 1);
    assert.ok(delivered[0]!.payload.equals(Buffer.alloc(10240, 0x61)));
  });

  it('a read that finishes one frame, holds another and starts a third', () => {
    const wire = frames(['abcdef', 'xy', 'the third one']);
    // read 1: header + "abc"; read 2: "def" + frame 2 whole + 6 bytes of frame 3
    const { lines } = inspect(splitAt(wire, [7, 7 + 3 + 6 + 6]));
    assert.deepEqual(lines, [
      'read 1: 7 B → frame 1 started, 3/6 B',
      'read 2: 15 B → frame 1 complete (6 B, 2 reads), frame 2 complete (2 B), frame 3 started, 2/13 B',
      'read 3: 11 B → frame 3 complete (13 B, 2 reads)',
    ]);
  });

  it('a header split across reads is shown as header bytes', () => {
    const wire = frames(['hi', 'there']);
    const { lines } = inspect(splitAt(wire, [6 + 1, 6 + 3, 6 + 4 + 2]));
    assert.deepEqual(lines, [
      'read 1: 7 B → frame 1 complete (2 B), frame 2 started, header 1/4 B',
      'read 2: 2 B → frame 2 continued, header 3/4 B',
      'read 3: 3 B → frame 2 continued, 2/5 B',
      'read 4: 3 B → frame 2 complete (5 B, 4 reads)',
    ]);
  });

  it('zero-length frames are frames (0 B), and u32le lengths are read as such', () => {
    const { lines, delivered } = inspect([frames(['', 'a', ''], 'u32le')], { framing: 'u32le' });
    assert.deepEqual(lines, [
      'read 1: 13 B → frame 1 complete (0 B), frame 2 complete (1 B), frame 3 complete (0 B)',
    ]);
    assert.deepEqual(
      delivered.map((d) => d.payload.toString()),
      ['', 'a', ''],
    );
  });

  it('one byte per read: every step of a frame is visible', () => {
    const wire = frames(['ab']);
    const { lines } = inspect([...wire].map((b) => Buffer.from([b])));
    assert.deepEqual(lines, [
      'read 1: 1 B → frame 1 started, header 1/4 B',
      'read 2: 1 B → frame 1 continued, header 2/4 B',
      'read 3: 1 B → frame 1 continued, header 3/4 B',
      'read 4: 1 B → frame 1 continued, 0/2 B',
      'read 5: 1 B → frame 1 continued, 1/2 B',
      'read 6: 1 B → frame 1 complete (2 B, 6 reads)',
    ]);
  });
});

describe('read inspector: raw mode and the protocol limits', () => {
  it('raw mode only counts reads', () => {
    const { lines, delivered } = inspect([Buffer.from('GET / HTTP/1.1\r\n'), Buffer.from('x')], {});
    assert.deepEqual(lines, ['read 1: 16 B', 'read 2: 1 B']);
    assert.equal(delivered.length, 0);
  });

  it('a length above maxFrame is FRAME_TOO_LARGE at the 4th header byte', () => {
    const inspector = new ReadInspector(() => undefined, { framing: 'u32be', maxFrame: 1024 });
    assert.throws(
      () => inspector.push(Buffer.from([0, 0, 4, 1])),
      (err: unknown) => err instanceof ProtocolError && err.code === 'FRAME_TOO_LARGE',
    );
  });

  it('a stream that ends inside a frame is INCOMPLETE', () => {
    const inspector = new ReadInspector(() => undefined, { framing: 'u32be' });
    inspector.push(frames(['hello']).subarray(0, 7));
    assert.equal(inspector.inFrame, true);
    assert.throws(
      () => {
        inspector.end();
      },
      (err: unknown) => err instanceof ProtocolError && err.code === 'INCOMPLETE',
    );
  });

  it('any chunking: reports add up to the bytes, and every frame completes exactly once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (payloads, cuts) => {
          const wire = frames(payloads.map((p) => Buffer.from(p)));
          const chunks = splitAt(wire, cuts).filter((c) => c.length > 0);
          const { reports, delivered } = inspect(chunks);
          assert.equal(
            reports.reduce((n, r) => n + r.bytes, 0),
            wire.length,
          );
          const completed = reports.flatMap((r) => r.frames.filter((f) => f.state === 'complete'));
          assert.deepEqual(
            completed.map((f) => f.frame),
            payloads.map((_, i) => i + 1),
          );
          assert.deepEqual(
            delivered.map((d) => [...d.payload]),
            payloads.map((p) => [...p]),
          );
          for (const step of completed) assert.equal(step.received, step.length);
          // A read reports at most one unfinished frame, and it is the last step.
          for (const r of reports) {
            const open = r.frames.filter((f) => f.state !== 'complete');
            assert.ok(open.length <= 1);
            if (open.length === 1) assert.equal(r.frames.at(-1), open[0]);
          }
        },
      ),
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as ws from 'ws';
import { encodeServerFrames } from '../../src/protocol/websocket-frame.js';
import { splitAt } from '../helpers/chunks.js';

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 42), numRuns: 200 });

/** ws's own frame parser (a client's view: unmasked frames from a server), not ours. */
interface ReceiverLike {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  write(chunk: Buffer): boolean;
}
const { Receiver } = ws as unknown as {
  Receiver: new (options: { isServer: boolean; maxPayload: number }) => ReceiverLike;
};

/** What a ws client makes of these bytes, delivered in these chunks. */
function parse(chunks: readonly Buffer[]): {
  messages: { data: Buffer; binary: boolean }[];
  error?: Error;
} {
  const receiver = new Receiver({ isServer: false, maxPayload: 0 });
  const messages: { data: Buffer; binary: boolean }[] = [];
  let error: Error | undefined;
  receiver.on('message', (data, binary) => messages.push({ data: Buffer.from(data), binary }));
  receiver.on('error', (err) => {
    error = err;
  });
  for (const chunk of chunks) receiver.write(chunk);
  return error === undefined ? { messages } : { messages, error };
}

describe('WebSocket server frames (RFC 6455 §5.2)', () => {
  it('encodes each length form: 7-bit, 16-bit and 64-bit, with FIN and no mask', () => {
    const cases: [number, string][] = [
      [0, '8100'],
      [125, '817d'],
      [126, '817e007e'],
      [65535, '817effff'],
      [65536, '817f0000000000010000'],
    ];
    for (const [length, header] of cases) {
      const out = encodeServerFrames([Buffer.alloc(length, 'a')]);
      assert.equal(out.subarray(0, header.length / 2).toString('hex'), header, `length ${length}`);
      assert.equal(out.length, header.length / 2 + length);
    }
    assert.equal(encodeServerFrames([Buffer.from('hi')], true).toString('hex'), '82026869');
  });

  it('ws reads back every message, one each, in order, however the bytes are cut', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ unit: 'grapheme', maxLength: 300 }),
            fc.string({ minLength: 65530, maxLength: 65540 }),
          ),
          { maxLength: 8 },
        ),
        fc.array(fc.nat(), { maxLength: 6 }),
        (texts, cuts) => {
          const bytes = encodeServerFrames(texts.map((t) => Buffer.from(t)));
          const { messages, error } = parse(splitAt(bytes, cuts));
          assert.equal(error, undefined);
          assert.deepEqual(
            messages.map((m) => [m.data.toString('utf8'), m.binary]),
            texts.map((t) => [t, false]),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('binary frames carry any bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 70_000 }), { maxLength: 4 }), (payloads) => {
        const { messages, error } = parse([encodeServerFrames(payloads, true)]);
        assert.equal(error, undefined);
        assert.deepEqual(
          messages.map((m) => [m.data.toString('hex'), m.binary]),
          payloads.map((p) => [Buffer.from(p).toString('hex'), true]),
        );
      }),
      { numRuns: 50 },
    );
  });
});

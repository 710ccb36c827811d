import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  EnvelopeDecoder,
  ProtocolError,
  encodeEnvelopeHeader,
  parseEnvelopeHeader,
  type EnvelopeHeader,
} from '../../src/index.js';
import { splitAt } from '../helpers/chunks.js';

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 42), numRuns: 200 });

interface Event {
  header?: EnvelopeHeader;
  body?: Buffer;
}

/** Decodes a stream (in the given chunks) into headers with their whole bodies. */
function decode(chunks: Buffer[]): Event[] {
  const events: Event[] = [];
  let parts: Buffer[] = [];
  const decoder = new EnvelopeDecoder({
    onHeader: (header) => events.push({ header }),
    onBody: (chunk) => parts.push(Buffer.from(chunk)),
    onBodyEnd: () => {
      const last = events[events.length - 1];
      if (last) last.body = Buffer.concat(parts);
      parts = [];
    },
  });
  for (const chunk of chunks) decoder.push(chunk);
  decoder.end();
  return events;
}

function envelope(header: EnvelopeHeader, body?: Buffer): Buffer {
  return Buffer.concat([encodeEnvelopeHeader(header), body ?? Buffer.alloc(0)]);
}

function rawHeader(json: string | Buffer): Buffer {
  const payload = typeof json === 'string' ? Buffer.from(json) : json;
  const out = Buffer.alloc(4 + payload.length);
  out.writeUInt32BE(payload.length);
  payload.copy(out, 4);
  return out;
}

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof ProtocolError && err.code === code);
}

describe('envelope codec', () => {
  it('golden: {"type":"ping"} is one frame with no body', () => {
    const wire = encodeEnvelopeHeader({ type: 'ping' });
    assert.equal(wire.toString('hex'), '0000000f7b2274797065223a2270696e67227d');
  });

  it('a header with size is followed by exactly that many raw body bytes', () => {
    const events = decode([
      envelope({ type: 'put', name: 'a.txt', size: 5 }, Buffer.from('hello')),
      envelope({ type: 'ping' }),
    ]);
    assert.deepEqual(events, [
      { header: { type: 'put', name: 'a.txt', size: 5 }, body: Buffer.from('hello') },
      { header: { type: 'ping' } },
    ]);
  });

  it('bodies pass through as pieces and are never held whole', () => {
    const bodyPieces: number[] = [];
    const decoder = new EnvelopeDecoder({
      onHeader: () => undefined,
      onBody: (c) => bodyPieces.push(c.length),
    });
    decoder.push(encodeEnvelopeHeader({ type: 'put', size: 3 * 65536 }));
    for (let i = 0; i < 3; i++) decoder.push(Buffer.alloc(65536));
    assert.deepEqual(bodyPieces, [65536, 65536, 65536]);
    assert.equal(decoder.inMessage, false);
  });

  it('size may be up to 2^53 − 1 (a 1 TB upload is a legal envelope)', () => {
    const decoder = new EnvelopeDecoder({ onHeader: () => undefined });
    decoder.push(encodeEnvelopeHeader({ type: 'put', size: Number.MAX_SAFE_INTEGER }));
    decoder.push(Buffer.alloc(10));
    assert.equal(decoder.bodyBytesRemaining, Number.MAX_SAFE_INTEGER - 10);
  });

  it('a stream that ends inside a body is INCOMPLETE', () => {
    const decoder = new EnvelopeDecoder({ onHeader: () => undefined });
    decoder.push(envelope({ type: 'put', size: 10 }, Buffer.from('12345')));
    expectCode(() => decoder.end(), 'INCOMPLETE');
  });

  it('round-trips any headers and bodies under any chunking (property)', () => {
    const header = fc.record({
      type: fc.string({ minLength: 1, maxLength: 20 }),
      name: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
      n: fc.option(fc.integer(), { nil: undefined }),
    });
    const item = fc.tuple(header, fc.uint8Array({ maxLength: 500 }));
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (items, cuts) => {
          const headers = items.map(([h, body]) => {
            const clean: EnvelopeHeader = JSON.parse(JSON.stringify(h)) as EnvelopeHeader;
            if (body.length > 0) clean.size = body.length;
            return clean;
          });
          const wire = Buffer.concat(
            items.map(([, body], i) => envelope(headers[i] as EnvelopeHeader, Buffer.from(body))),
          );
          const chunks = splitAt(wire, cuts);
          const events = decode(chunks);
          assert.deepEqual(
            events.map((e) => e.header),
            headers,
          );
          items.forEach(([, body], i) => {
            if (body.length > 0) assert.deepEqual(events[i]?.body, Buffer.from(body));
          });
        },
      ),
    );
  });
});

describe('envelope headers are validated', () => {
  it('malformed JSON, non-objects, bad UTF-8 and a BOM are BAD_HEADER', () => {
    for (const bad of ['{"type":', '[]', '"x"', '42', 'null', '{"type":"a"} trailing']) {
      expectCode(() => parseEnvelopeHeader(Buffer.from(bad)), 'BAD_HEADER');
    }
    expectCode(() => parseEnvelopeHeader(Buffer.from([0x7b, 0xff, 0x7d])), 'BAD_HEADER');
    expectCode(() => parseEnvelopeHeader(Buffer.from('\uFEFF{"type":"a"}')), 'BAD_HEADER');
  });

  it('type must be a non-empty string', () => {
    for (const bad of ['{}', '{"type":1}', '{"type":""}', `{"type":"${'x'.repeat(65)}"}`]) {
      expectCode(() => parseEnvelopeHeader(Buffer.from(bad)), 'BAD_HEADER');
    }
  });

  it('size edge cases: only integers 0 ≤ size ≤ 2^53 − 1 pass', () => {
    for (const bad of ['-1', '1.5', '"10"', '1e400', String(2 ** 53), 'null', 'true']) {
      expectCode(
        () => parseEnvelopeHeader(Buffer.from(`{"type":"put","size":${bad}}`)),
        'BAD_HEADER',
      );
    }
    assert.equal(parseEnvelopeHeader(Buffer.from('{"type":"put","size":0}')).size, 0);
    assert.throws(() => encodeEnvelopeHeader({ type: 'put', size: -1 }), ProtocolError);
  });

  it('prototype keys are refused at any depth and pollute nothing', () => {
    const attacks = [
      '{"type":"a","__proto__":{"isAdmin":true}}',
      '{"type":"a","constructor":{"prototype":{"x":1}}}',
      '{"type":"a","deep":{"list":[{"__proto__":{"isAdmin":true}}]}}',
      '{"type":"a","\\u005f_proto__":{"isAdmin":true}}',
    ];
    for (const text of attacks)
      expectCode(() => parseEnvelopeHeader(Buffer.from(text)), 'BAD_HEADER');
    assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  it('a header over maxHeader is HEADER_TOO_LARGE before it is parsed, on the 4th length byte', () => {
    const decoder = new EnvelopeDecoder(
      { onHeader: () => assert.fail('no header expected') },
      { maxHeader: 1024 },
    );
    const bomb = rawHeader(`{"type":"a","pad":"${'x'.repeat(2000)}"}`);
    assert.throws(
      () => decoder.push(bomb.subarray(0, 4)),
      (err: unknown) => err instanceof ProtocolError && err.code === 'FRAME_TOO_LARGE',
    );
    expectCode(() => parseEnvelopeHeader(Buffer.alloc(70 * 1024, 0x20)), 'HEADER_TOO_LARGE');
    assert.throws(
      () => encodeEnvelopeHeader({ type: 'a', pad: 'x'.repeat(70 * 1024) }),
      ProtocolError,
    );
  });

  it('deep nesting is BAD_HEADER before JSON.parse could overflow the stack', () => {
    const nested = `{"type":"a","n":${'['.repeat(30_000)}${']'.repeat(30_000)}}`;
    expectCode(() => parseEnvelopeHeader(Buffer.from(nested)), 'BAD_HEADER');
    const brackets = `{"type":"a","s":"${'['.repeat(100)}","n":[[[1]]]}`;
    assert.equal(
      parseEnvelopeHeader(Buffer.from(brackets)).type,
      'a',
      'brackets inside strings do not count',
    );
  });

  it('a normalizer can map a legacy header (no type) before validation', () => {
    const header = parseEnvelopeHeader(Buffer.from('{"file_name":"a.txt","file_size":3}'), {
      normalize: (raw) =>
        'type' in raw ? raw : { type: 'put', name: raw.file_name, size: raw.file_size },
    });
    assert.deepEqual(header, { type: 'put', name: 'a.txt', size: 3 });
  });

  it('random bytes as a header: a header or a typed error, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          parseEnvelopeHeader(bytes);
        } catch (err) {
          assert.ok(err instanceof ProtocolError);
        }
      }),
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError, formatAddress, parseAddress } from '../../src/index.js';
import { isLoopbackHost, normalizeHost } from '../../src/internal.js';

const defaults = { port: 7007 };

describe('addresses', () => {
  const good: [string, ReturnType<typeof parseAddress>][] = [
    ['127.0.0.1:9000', { kind: 'inet', host: '127.0.0.1', port: 9000 }],
    ['localhost', { kind: 'inet', host: 'localhost', port: 7007 }],
    ['example.com:80', { kind: 'inet', host: 'example.com', port: 80 }],
    ['[::1]:9000', { kind: 'inet', host: '::1', port: 9000 }],
    ['[::1]', { kind: 'inet', host: '::1', port: 7007 }],
    ['::1', { kind: 'inet', host: '::1', port: 7007 }],
    [':9000', { kind: 'inet', host: '127.0.0.1', port: 9000 }],
    ['9000', { kind: 'inet', host: '127.0.0.1', port: 9000 }],
    ['unix:/tmp/s.sock', { kind: 'unix', path: '/tmp/s.sock' }],
  ];
  for (const [text, expected] of good) {
    it(`parses ${text}`, () => {
      assert.deepEqual(parseAddress(text, defaults), expected);
    });
  }

  const bad = [
    '',
    'host:port',
    'host:70000',
    '[::1',
    '[nope]:1',
    '::1:99999x',
    'unix:',
    'bad host',
    `unix:/${'x'.repeat(120)}`,
    '[::1]x',
  ];
  for (const text of bad) {
    it(`refuses ${JSON.stringify(text)} with BAD_ADDRESS`, () => {
      assert.throws(
        () => parseAddress(text, defaults),
        (err: unknown) =>
          err instanceof UsageError &&
          err.code === 'BAD_ADDRESS' &&
          err.message.includes('bad address'),
      );
    });
  }

  it('formats back to what it parses', () => {
    for (const text of ['127.0.0.1:9000', '[::1]:9000', 'unix:/tmp/s.sock']) {
      assert.equal(formatAddress(parseAddress(text, defaults)), text);
    }
  });

  it('an IPv4-mapped IPv6 peer is the same host as its IPv4 form', () => {
    assert.equal(normalizeHost('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeHost('::1'), '::1');
  });

  it('knows which hosts keep a service on this machine (exec/files exposure checks)', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      'localhost',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
      '0:0:0:0:0:0:0:1',
    ]) {
      assert.equal(isLoopbackHost(host), true, host);
    }
    for (const host of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '192.168.1.1',
      'example.com',
      '::2',
      '128.0.0.1',
    ]) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_CODES, SockitError, isErrorCode } from '../../src/index.js';
import { fromSystemError } from '../../src/errors.js';

function errno(code: string): Error {
  return Object.assign(new Error(`${code} raw`), { code });
}

describe('OS errors become one-line typed errors that keep their cause', () => {
  const cases: [string, string, string][] = [
    ['ECONNREFUSED', 'CONNECTION_REFUSED', 'connection refused'],
    ['EHOSTUNREACH', 'HOST_UNREACHABLE', 'host unreachable'],
    ['ENETUNREACH', 'HOST_UNREACHABLE', 'host unreachable'],
    ['ETIMEDOUT', 'CONNECT_TIMEOUT', 'connection timed out'],
    ['ENOTFOUND', 'HOST_NOT_FOUND', 'host not found'],
    ['ECONNRESET', 'CONNECTION_RESET', 'connection reset by peer'],
    ['EADDRINUSE', 'ADDRESS_IN_USE', 'address already in use'],
  ];
  for (const [sys, code, phrase] of cases) {
    it(`${sys} → ${code}`, () => {
      const cause = errno(sys);
      const err = fromSystemError(cause, 'connect to example.com:7007');
      assert.ok(err instanceof SockitError);
      assert.equal(err.code, code);
      assert.equal(err.message, `connect to example.com:7007: ${phrase}`);
      assert.equal(err.cause, cause);
    });
  }

  it('an unknown errno keeps its own message under NETWORK_ERROR', () => {
    const err = fromSystemError(errno('EWHATEVER'), 'udp 127.0.0.1:9');
    assert.equal(err.code, 'NETWORK_ERROR');
    assert.match(err.message, /^udp 127\.0\.0\.1:9: EWHATEVER raw$/);
  });

  it('every code is UPPER_SNAKE and unique', () => {
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
    for (const code of ERROR_CODES) assert.match(code, /^[A-Z]+(_[A-Z]+)*$/);
    assert.ok(isErrorCode('BUSY'));
    assert.ok(!isErrorCode('busy'));
  });
});

describe('docs/ERRORS.md', () => {
  it('documents every error code', async () => {
    const { readFile } = await import('node:fs/promises');
    const docs = await readFile(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
    const missing = ERROR_CODES.filter((code) => !docs.includes(`\`${code}\``));
    assert.deepEqual(missing, []);
  });
});

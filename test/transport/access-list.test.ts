import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessList, UsageError } from '../../src/index.js';
import { parseAccessRule } from '../../src/internal.js';

describe('access list rules', () => {
  it('parses addresses, CIDR blocks and ranges of both families', () => {
    assert.deepEqual(parseAccessRule('127.0.0.1'), {
      kind: 'address',
      address: '127.0.0.1',
      family: 'ipv4',
    });
    assert.deepEqual(parseAccessRule(' 10.0.0.0/8 '), {
      kind: 'subnet',
      network: '10.0.0.0',
      prefix: 8,
      family: 'ipv4',
    });
    assert.deepEqual(parseAccessRule('fd00::/8'), {
      kind: 'subnet',
      network: 'fd00::',
      prefix: 8,
      family: 'ipv6',
    });
    assert.deepEqual(parseAccessRule('10.0.0.5-10.0.0.9'), {
      kind: 'range',
      start: '10.0.0.5',
      end: '10.0.0.9',
      family: 'ipv4',
    });
  });

  const bad: [string, RegExp][] = [
    ['localhost', /expected an IP address, a CIDR block or a range/],
    ['10.0.0.0/33', /prefix length must be 0-32/],
    ['::/129', /prefix length must be 0-128/],
    ['10.0.0.0/x', /prefix length/],
    ['1.2.3/8', /"1\.2\.3" is not an IP address/],
    ['10.0.0.1-::1', /same family/],
    ['10.0.0.9-10.0.0.1', /must not come after its end/],
  ];
  for (const [rule, message] of bad) {
    it(`refuses ${JSON.stringify(rule)} as BAD_OPTION, naming the rule`, () => {
      assert.throws(
        () => new AccessList({ allow: [rule] }),
        (err: unknown) =>
          err instanceof UsageError &&
          err.code === 'BAD_OPTION' &&
          err.message.includes(`"${rule}"`) &&
          message.test(err.message),
      );
    });
  }
});

describe('access list decisions', () => {
  it('no rules: everyone is allowed', () => {
    const list = new AccessList();
    assert.equal(list.empty, true);
    assert.equal(list.allows('203.0.113.9'), true);
  });

  it('--allow: only matching peers, from a comma list and repeated options', () => {
    const list = new AccessList({ allow: ['127.0.0.1,10.1.0.0/16', '192.0.2.10-192.0.2.20'] });
    assert.equal(list.allows('127.0.0.1'), true);
    assert.equal(list.allows('10.1.255.3'), true);
    assert.equal(list.allows('192.0.2.15'), true);
    assert.equal(list.allows('127.0.0.2'), false);
    assert.equal(list.allows('10.2.0.1'), false);
    assert.equal(list.allows('192.0.2.21'), false);
    assert.equal(list.allows('::1'), false);
    assert.match(list.reason('127.0.0.2'), /127\.0\.0\.2 is not in --allow/);
  });

  it('--deny wins over --allow', () => {
    const list = new AccessList({ allow: ['10.0.0.0/8'], deny: ['10.0.0.66'] });
    assert.equal(list.allows('10.0.0.65'), true);
    assert.equal(list.allows('10.0.0.66'), false);
    assert.match(list.reason('10.0.0.66'), /10\.0\.0\.66 matches --deny/);
  });

  it('--deny alone lets everyone else in', () => {
    const list = new AccessList({ deny: ['127.0.0.0/8'] });
    assert.equal(list.allows('127.9.9.9'), false);
    assert.equal(list.allows('192.0.2.1'), true);
  });

  it('IPv6 rules, and IPv4-mapped IPv6 peers match IPv4 rules', () => {
    const list = new AccessList({ allow: ['::1', 'fd00::/8', '127.0.0.1'] });
    assert.equal(list.allows('::1'), true);
    assert.equal(list.allows('fd12:3456::1'), true);
    assert.equal(list.allows('fe80::1'), false);
    assert.equal(list.allows('::ffff:127.0.0.1'), true);
    assert.equal(list.allows('::FFFF:127.0.0.2'), false);
  });

  it('a peer that is not an IP address is never allowed by a list', () => {
    assert.equal(new AccessList({ deny: ['10.0.0.1'] }).allows('not-an-ip'), false);
  });
});

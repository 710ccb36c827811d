import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { FilesClient, SockitError, type EnvelopeHeader } from '../../../src/index.js';
import {
  checkName,
  escapeName,
  foldName,
  isValidName,
  tutorialNormalizer,
} from '../../../src/services/files/internal.js';
import { TOKEN, outcome, rawChannel, rawRequest, startFiles, tree } from './helpers.js';

const PAYLOAD = Buffer.from('owned');

function putHeader(name: string, body: Buffer): EnvelopeHeader {
  return {
    type: 'put',
    name,
    size: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
  };
}

const T = { timeout: 60_000 };

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 42) });

/** RELIABILITY.md FILE-01, and more: every one is refused. */
export const HOSTILE_NAMES = [
  '../x',
  '..\\x',
  '/etc/passwd',
  '////etc/passwd',
  'C:..\\x',
  'C:\\x',
  'C:x',
  '.',
  '..',
  '',
  'x\0.txt',
  '．．／',
  '．．/x',
  '‥',
  'a/../../x',
  'a/./b',
  'a//b',
  'a/',
  '/a',
  'a\\b',
  'e\u0301', // NFD: not NFC
  'x'.repeat(256),
  `${'d/'.repeat(2049)}x`,
  'trailing.',
  'trailing ',
  'dir./x',
  'CON',
  'con.txt',
  'Nul',
  'COM1.log',
  'lpt9',
  'COM¹',
  'aux .txt',
  'esc\u001b[31m',
  'del\u007f',
  'c1\u0085',
  'bidi\u202etxt.exe',
  'line\nfeed',
  'tab\t',
  '.sockit-partial',
  '.SOCKIT-PARTIAL/x',
  '\ud800lone',
];

/** Legal, and each becomes exactly one file with that name inside the root. */
export const ACCEPTED_NAMES = [
  'a.txt',
  'dir/sub/a.txt',
  '%2e%2e%2f',
  '-leading-dash',
  '.hidden',
  '...x',
  'é', // NFC
  'ﬁle', // NFC, though NFKC folds it to "file"
  'emoji 😀.png',
  'x'.repeat(255),
  'CONSOLE',
  'com10',
  'ab:cd',
  'sockit-partial',
];

test('checkName: the traversal corpus is refused with BAD_NAME', () => {
  for (const name of HOSTILE_NAMES) {
    assert.throws(
      () => checkName(name),
      (err: unknown) => err instanceof SockitError && err.code === 'BAD_NAME',
      `accepted ${JSON.stringify(name)}`,
    );
  }
  assert.throws(() => checkName(42), /string/);
});

test('checkName: ordinary names, subpaths and Unicode pass', () => {
  for (const name of ACCEPTED_NAMES) assert.doesNotThrow(() => checkName(name), name);
  assert.deepEqual(checkName('a/b/c.txt'), ['a', 'b', 'c.txt']);
});

test('foldName: case, Unicode forms and ligatures collide', () => {
  assert.equal(foldName('README'), foldName('readme'));
  assert.equal(foldName('é'), foldName('e\u0301'));
  assert.equal(foldName('ﬁle'), foldName('file'));
  assert.equal(foldName('straße'), foldName('STRASSE'));
  assert.notEqual(foldName('a'), foldName('b'));
});

test('escapeName: control, bidi characters and backslashes are escaped', () => {
  assert.equal(escapeName('a\u001b[31mb'), 'a\\x1b[31mb');
  assert.equal(escapeName('x\u202ey'), 'x\\u{202e}y');
  assert.equal(escapeName('a\\b\n'), 'a\\\\b\\x0a');
  assert.equal(escapeName('plain é 😀'), 'plain é 😀');
});

test('tutorialNormalizer: the tutorial header becomes a tutorial_put, others pass', () => {
  assert.deepEqual(tutorialNormalizer({ file_name: 'a.txt', file_size: 3, md5: 'ABC' }), {
    type: 'tutorial_put',
    name: 'a.txt',
    size: 3,
    md5: 'abc',
  });
  const typed = { type: 'put', name: 'x', file_name: 'y' };
  assert.equal(tutorialNormalizer(typed), typed);
});

test(
  'put over the wire: every hostile name is refused and nothing appears outside the root',
  T,
  async (t) => {
    const { address, root } = await startFiles(t);
    const outside = dirname(root);
    const before = await tree(outside);
    for (const name of HOSTILE_NAMES) {
      // Straight onto the wire: the client library would refuse these itself.
      const channel = await rawChannel(t, address);
      const reply = await rawRequest(channel, putHeader(name, PAYLOAD), PAYLOAD);
      channel.connection.destroy();
      assert.equal(outcome(reply), 'BAD_NAME', `${JSON.stringify(name)} got ${outcome(reply)}`);
    }
    const after = await tree(outside);
    assert.deepEqual(
      after.filter((p) => !before.includes(p)),
      [],
    );
    assert.deepEqual(await readdir(root), ['.sockit-partial']);
  },
);

test('put over the wire: each accepted name is exactly one file inside the root', T, async (t) => {
  const { address, root, work } = await startFiles(t);
  const client = await FilesClient.connect(address, { token: TOKEN });
  t.after(() => client.destroy());
  const src = join(work, 'payload');
  await writeFile(src, 'ok');
  for (const name of ACCEPTED_NAMES) {
    const result = await client.put(src, name);
    assert.equal(result.name, name);
  }
  const files = (await tree(root)).filter(
    (p) => !p.endsWith('/') && !p.startsWith('.sockit-partial'),
  );
  assert.deepEqual(files, [...ACCEPTED_NAMES].sort());
});

test('property: whatever the name, no file is ever created outside the root', T, async (t) => {
  const { address, root } = await startFiles(t);
  const outside = dirname(root);
  const before = await tree(outside);
  let channel = await rawChannel(t, address);
  const pieces = fc.constantFrom(
    '..',
    '.',
    '/',
    '\\',
    '\0',
    'a',
    'b',
    '．',
    '／',
    '‥',
    'C:',
    ' ',
    'con',
    'é',
    'e\u0301',
    '\u001b',
  );
  const name = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.array(pieces, { maxLength: 12 }).map((p) => p.join('')),
  );
  await fc.assert(
    fc.asyncProperty(name, async (n) => {
      const reply = outcome(await rawRequest(channel, putHeader(n, PAYLOAD), PAYLOAD));
      if (reply !== 'ok') {
        assert.ok(
          ['BAD_NAME', 'EXISTS', 'BAD_REQUEST'].includes(reply),
          `${JSON.stringify(n)}: ${reply}`,
        );
        channel.connection.destroy();
        channel = await rawChannel(t, address);
        return;
      }
      // Accepted: it is exactly the file the name says, inside the root.
      assert.equal(isValidName(n), true);
      // Compared as paths, never with startsWith: "..a" is a fine name, "../a" is not.
      const rel = relative(root, join(root, n));
      assert.ok(!isAbsolute(rel) && rel.split(sep)[0] !== '..' && rel === n, n);
      assert.equal((await lstat(join(root, n))).isFile(), true);
    }),
    { numRuns: 300 },
  );
  const after = await tree(outside);
  const added = after.filter((p) => !before.includes(p));
  for (const p of added) assert.ok(p.startsWith('root/'), `created outside the root: ${p}`);
});

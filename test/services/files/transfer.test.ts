import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { FilesClient, FilesServer, SockitError, type EnvelopeHeader } from '../../../src/index.js';
import { captureLogger, tempDir } from '../../helpers/echo.js';
import {
  connectFiles,
  makeFile,
  outcome,
  rawChannel,
  rawRequest,
  sha256,
  sha256File,
  startFiles,
  tree,
} from './helpers.js';

const T = { timeout: 60_000 };

function code(err: unknown): string {
  return err instanceof SockitError ? err.code : String(err);
}

function putHeader(
  name: string,
  body: Buffer,
  extra: Record<string, unknown> = {},
): EnvelopeHeader {
  return { type: 'put', name, size: body.length, sha256: sha256(body), ...extra };
}

test(
  'put/get/stat/list: a short body and a long one round-trip, hashes checked both ways',
  T,
  async (t) => {
    const { address, root, work } = await startFiles(t);
    const client = await connectFiles(t, address);
    const small = join(work, 'small');
    await writeFile(small, 'hello');
    const long = join(work, 'long');
    await makeFile(long, 24 * 1024 * 1024 + 17); // not a multiple of the staging buffer
    const empty = join(work, 'empty');
    await writeFile(empty, '');

    const a = await client.put(small, 'small.txt');
    assert.deepEqual(a, {
      name: 'small.txt',
      size: 5,
      sha256: sha256(Buffer.from('hello')),
      sent: 5,
      offset: 0,
    });
    const b = await client.put(long, 'deep/dir/long.bin');
    assert.equal(b.sha256, await sha256File(long));
    const c = await client.put(empty, 'empty');
    assert.equal(c.size, 0);

    assert.equal(await sha256File(join(root, 'deep/dir/long.bin')), b.sha256);
    const st = await client.stat('deep/dir/long.bin');
    assert.ok(st);
    assert.equal(st.fileSize, 24 * 1024 * 1024 + 17);
    assert.equal(st.partial, undefined);
    assert.equal(await client.stat('nothing'), undefined);

    const names = (await client.list()).map((e) => `${e.name}:${e.size}`);
    assert.deepEqual(names, ['deep/dir/long.bin:25165841', 'empty:0', 'small.txt:5']);
    assert.deepEqual(
      (await client.list('deep')).map((e) => e.name),
      ['deep/dir/long.bin'],
    );

    const got = await client.get('deep/dir/long.bin', join(work, 'long.out'));
    assert.equal(got.sha256, b.sha256);
    assert.equal(await sha256File(join(work, 'long.out')), b.sha256);
    const gotEmpty = await client.get('empty', join(work, 'empty.out'));
    assert.equal(gotEmpty.size, 0);
    assert.equal((await readFile(join(work, 'empty.out'))).length, 0);
    // No partial left on either side.
    assert.deepEqual(await readdir(join(root, '.sockit-partial')), []);
    assert.ok(!(await readdir(work)).some((n) => n.endsWith('.sockit-part')));
    await assert.rejects(client.get('missing', join(work, 'm')), (e) => code(e) === 'NOT_FOUND');
    // Still usable after a refused get.
    assert.equal((await client.stat('small.txt'))?.fileSize, 5);
  },
);

test('get with offset: the body starts there, the hash covers the whole file', T, async (t) => {
  const { address, root } = await startFiles(t);
  const data = Buffer.from('0123456789abcdef');
  await writeFile(join(root, 'f'), data);
  const channel = await rawChannel(t, address);
  const head = await new Promise<{ head: EnvelopeHeader; body: Buffer; done: EnvelopeHeader }>(
    (resolve) => {
      const chunks: Buffer[] = [];
      let head: EnvelopeHeader | undefined;
      channel.setHandlers({
        header: (h) => {
          if (h.type === 'file') head = h;
          else resolve({ head: head!, body: Buffer.concat(chunks), done: h });
        },
        body: (c) => chunks.push(Buffer.from(c)),
      });
      channel.send({ type: 'get', name: 'f', offset: 10 });
      channel.resume();
    },
  );
  assert.deepEqual(head.head, { type: 'file', name: 'f', size: 6, total: 16, offset: 10 });
  assert.equal(head.body.toString(), 'abcdef');
  assert.deepEqual(head.done, { type: 'done', sha256: sha256(data) });
  assert.equal(
    outcome(await rawRequest(channel, { type: 'get', name: 'f', offset: 17 })),
    'BAD_OFFSET',
  );
});

test(
  'a wrong hash: HASH_MISMATCH, nothing visible under the name, no partial kept',
  T,
  async (t) => {
    const { address, root } = await startFiles(t);
    const body = Buffer.from('the real bytes');
    const channel = await rawChannel(t, address);
    const reply = await rawRequest(
      channel,
      putHeader('x.txt', body, { sha256: sha256(Buffer.from('other')) }),
      body,
    );
    assert.equal(outcome(reply), 'HASH_MISMATCH');
    assert.deepEqual(await tree(root), ['.sockit-partial/']);
    // Hash in a commit after the body (what the CLI sends): same rule.
    const ch2 = await rawChannel(t, address);
    const reply2 = await rawRequest(
      ch2,
      { type: 'put', name: 'x.txt', size: body.length },
      body,
      sha256(Buffer.from('no')),
    );
    assert.equal(outcome(reply2), 'HASH_MISMATCH');
    assert.deepEqual(await tree(root), ['.sockit-partial/']);
    // A malformed hash is a bad request, before any byte is read.
    const ch3 = await rawChannel(t, address);
    assert.equal(
      outcome(await rawRequest(ch3, putHeader('x.txt', body, { sha256: 'abc' }))),
      'BAD_REQUEST',
    );
  },
);

test(
  'no overwrite unless asked and allowed; collisions after case and Unicode folding',
  T,
  async (t) => {
    const { address, root, work } = await startFiles(t);
    const client = await connectFiles(t, address);
    const one = join(work, 'one');
    const two = join(work, 'two');
    await writeFile(one, 'first');
    await writeFile(two, 'second');
    await client.put(one, 'f.txt');
    await assert.rejects(client.put(two, 'f.txt'), (e) => code(e) === 'EXISTS');
    const c2 = await connectFiles(t, address);
    await assert.rejects(
      c2.put(two, 'f.txt', { overwrite: true }),
      (e) => code(e) === 'NOT_ALLOWED',
    );
    assert.equal(await readFile(join(root, 'f.txt'), 'utf8'), 'first');

    for (const [first, second] of [
      ['README', 'readme'],
      ['ﬁle', 'file'],
      ['Straße', 'STRASSE'],
      ['Dir/a', 'dir/b'],
    ] as const) {
      const c = await connectFiles(t, address);
      await c.put(one, first);
      await assert.rejects(
        c.put(two, second),
        (e) => code(e) === 'EXISTS',
        `${first} vs ${second}`,
      );
    }
    assert.equal(await readFile(join(root, 'README'), 'utf8'), 'first');

    // NFD is not NFC: refused outright (the client sends NFC).
    const c3 = await rawChannel(t, address);
    assert.equal(
      outcome(await rawRequest(c3, putHeader('e\u0301', Buffer.from('x')), Buffer.from('x'))),
      'BAD_NAME',
    );

    // A server that allows it replaces atomically.
    const other = await startFiles(t, { allowOverwrite: true });
    const c4 = await connectFiles(t, other.address);
    await c4.put(one, 'g');
    await assert.rejects(c4.put(two, 'g'), (e) => code(e) === 'EXISTS');
    const c5 = await connectFiles(t, other.address);
    await c5.put(two, 'g', { overwrite: true });
    assert.equal(await readFile(join(other.root, 'g'), 'utf8'), 'second');
  },
);

test('pre-planted symlinks (file and directory) lead nowhere outside the root', T, async (t) => {
  const { address, root, work } = await startFiles(t);
  const outside = join(dirname(root), 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'secret');
  await symlink(join(outside, 'secret'), join(root, 'target'));
  await symlink(outside, join(root, 'dir'));
  await symlink(join(outside, 'not-yet'), join(root, 'dangling'));
  await mkdir(join(root, 'real'));
  await symlink(outside, join(root, 'real', 'inner'));
  const src = join(work, 'p');
  await writeFile(src, 'payload');

  for (const [name, expected] of [
    ['target', 'EXISTS'],
    ['dangling', 'EXISTS'],
    ['dir/x', 'BAD_NAME'],
    ['dir/secret', 'BAD_NAME'],
    ['real/inner/x', 'BAD_NAME'],
  ] as const) {
    const c = await connectFiles(t, address);
    await assert.rejects(
      c.put(src, name),
      (e) => code(e) === expected,
      `${name}: expected ${expected}`,
    );
  }
  for (const name of ['target', 'dir/secret', 'real/inner/secret', 'dangling']) {
    const c = await connectFiles(t, address);
    await assert.rejects(c.get(name, join(work, `out-${name.replace(/\//g, '_')}`)), (e) =>
      ['NOT_FOUND', 'BAD_NAME'].includes(code(e)),
    );
    const c2 = await connectFiles(t, address);
    const st = await c2.stat(name).catch((e: unknown) => code(e));
    assert.ok(st === undefined || st === 'BAD_NAME', `stat ${name}: ${JSON.stringify(st)}`);
  }
  assert.deepEqual(await readdir(outside), ['secret']);
  assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'secret');
  // Listing skips symlinks.
  const c = await connectFiles(t, address);
  assert.deepEqual(await c.list(), []);
});

test('a FIFO or a directory is never served (and never blocks the server)', T, async (t) => {
  const { address, root, work } = await startFiles(t);
  execFileSync('mkfifo', [join(root, 'fifo')]);
  await mkdir(join(root, 'adir'));
  const c = await connectFiles(t, address);
  await assert.rejects(c.get('fifo', join(work, 'f')), (e) => code(e) === 'NOT_FOUND');
  await assert.rejects(c.get('adir', join(work, 'd')), (e) => code(e) === 'NOT_FOUND');
  // The server still answers at once.
  assert.equal(await c.stat('adir'), undefined);
});

test('quotas are checked before the body: TOO_LARGE and QUOTA_EXCEEDED', T, async (t) => {
  const { address, work } = await startFiles(t, { maxFileSize: 1000, maxTotal: 1500 });
  // Only the header is sent: the refusal must come without any body byte.
  const ch = await rawChannel(t, address);
  assert.equal(
    outcome(await rawRequest(ch, { type: 'put', name: 'big', size: 1001, sha256: '0'.repeat(64) })),
    'TOO_LARGE',
  );
  const client = await connectFiles(t, address);
  const f = join(work, 'f');
  await writeFile(f, Buffer.alloc(900));
  await client.put(f, 'one');
  const ch2 = await rawChannel(t, address);
  assert.equal(
    outcome(await rawRequest(ch2, { type: 'put', name: 'two', size: 900, sha256: '0'.repeat(64) })),
    'QUOTA_EXCEEDED',
  );
  const ch3 = await rawChannel(t, address);
  assert.equal(
    outcome(
      await rawRequest(ch3, {
        type: 'put',
        name: 'huge',
        size: Number.MAX_SAFE_INTEGER,
        sha256: '0'.repeat(64),
      }),
    ),
    'TOO_LARGE',
  );
});

test(
  'a broken upload keeps its partial; stat reports it; put with offset resumes, verified end to end',
  T,
  async (t) => {
    const log = captureLogger();
    const { address, root, work } = await startFiles(t, { logger: log.logger });
    const src = join(work, 'src');
    const size = 6 * 1024 * 1024 + 5;
    await makeFile(src, size);
    const data = await readFile(src);
    const half = 3 * 1024 * 1024 + 1;
    // A client sends the header and half the body, then vanishes.
    const ch = await rawChannel(t, address);
    const accepted = new Promise<EnvelopeHeader>((resolve) => {
      ch.setHandlers({ header: resolve });
    });
    ch.send({ type: 'put', name: 'r/file', size });
    ch.resume();
    assert.equal((await accepted).type, 'continue');
    ch.sendBody(data.subarray(0, half));
    await ch.drained();
    ch.connection.destroy();
    await log.waitFor((r) => r.op === 'put' && r.result === 'INCOMPLETE');
    const client = await connectFiles(t, address);
    const st = await client.stat('r/file');
    assert.deepEqual(
      { fileSize: st?.fileSize, partial: st?.partial },
      { fileSize: undefined, partial: half },
    );
    // Not visible, not listed.
    assert.deepEqual(await client.list(), []);
    await assert.rejects(client.get('r/file', join(work, 'nope')), (e) => code(e) === 'NOT_FOUND');
    // An offset beyond what the server holds is refused.
    const c2 = await connectFiles(t, address);
    await assert.rejects(
      c2.put(src, 'r/file', { offset: half + 1 }),
      (e) => code(e) === 'BAD_OFFSET',
    );
    // Resume: only the rest crosses the wire.
    const c3 = await connectFiles(t, address);
    const result = await c3.put(src, 'r/file', { offset: half });
    assert.equal(result.sent, size - half);
    assert.equal(result.sha256, sha256(data));
    assert.equal(await sha256File(join(root, 'r/file')), sha256(data));
    assert.deepEqual(await readdir(join(root, '.sockit-partial')), []);
  },
);

test(
  'resume of a partial that is not the same file fails the hash and stores nothing',
  T,
  async (t) => {
    const log = captureLogger();
    const { address, root } = await startFiles(t, { logger: log.logger });
    const ch = await rawChannel(t, address);
    const first = Buffer.alloc(100, 1);
    const accepted = new Promise<EnvelopeHeader>((resolve) => {
      ch.setHandlers({ header: resolve });
    });
    ch.send({ type: 'put', name: 'm', size: 200 });
    ch.resume();
    await accepted;
    ch.sendBody(first);
    await ch.drained();
    ch.connection.destroy();
    await log.waitFor((r) => r.op === 'put' && r.result === 'INCOMPLETE');
    const client = await connectFiles(t, address);
    assert.equal((await client.stat('m'))?.partial, 100);
    const other = Buffer.alloc(200, 2);
    const ch2 = await rawChannel(t, address);
    const reply = await rawRequest(
      ch2,
      { type: 'put', name: 'm', size: 100, offset: 100, sha256: sha256(other) },
      other.subarray(100),
    );
    assert.equal(outcome(reply), 'HASH_MISMATCH');
    assert.deepEqual(await tree(root), ['.sockit-partial/']);
  },
);

test(
  'authentication: no token, a wrong token, and --insecure-no-auth off loopback',
  T,
  async (t) => {
    const { address } = await startFiles(t);
    await assert.rejects(FilesClient.connect(address, {}), (e) => code(e) === 'TOKEN_MISSING');
    await assert.rejects(
      FilesClient.connect(address, { token: 'wrong-token-0123456789' }),
      (e) => code(e) === 'AUTH_FAILED',
    );
    const root = join(await tempDir(t), 'r');
    const open = new FilesServer({ root, token: undefined });
    t.after(() => open.close(0));
    await assert.rejects(
      open.listen({ kind: 'inet', host: '0.0.0.0', port: 0 }),
      (e) => code(e) === 'BAD_OPTION',
    );
    await assert.rejects(lstat(root), /ENOENT/); // refused before the root was even created
    // On loopback it serves, and the client needs no token.
    const bound = await open.listen({ kind: 'inet', host: '127.0.0.1', port: 0 });
    const c = await FilesClient.connect(bound, {});
    t.after(() => c.destroy());
    assert.deepEqual(await c.list(), []);
  },
);

test(
  'get --resume continues PATH.sockit-part and verifies the whole file; a corrupt partial fails the hash',
  T,
  async (t) => {
    const { address, root, work } = await startFiles(t);
    const data = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 12)) & 0xff;
    await writeFile(join(root, 'movie'), data);
    const dest = join(work, 'movie');
    const half = 1024 * 1024 + 3;
    await writeFile(`${dest}.sockit-part`, data.subarray(0, half));
    const client = await connectFiles(t, address);
    const got = await client.get('movie', dest, { resume: true });
    assert.equal(got.offset, half);
    assert.equal(got.received, data.length - half);
    assert.equal(got.sha256, sha256(data));
    assert.deepEqual(await readFile(dest), data);
    assert.deepEqual(await readdir(work), ['movie']);

    // A local partial that is not a prefix of the file: the end-to-end hash catches it.
    const dest2 = join(work, 'movie2');
    await writeFile(`${dest2}.sockit-part`, Buffer.alloc(half, 0xee));
    await assert.rejects(
      client.get('movie', dest2, { resume: true }),
      (e) => code(e) === 'HASH_MISMATCH',
    );
    assert.deepEqual(await readdir(work), ['movie']);
  },
);

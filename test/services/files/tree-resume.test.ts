import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { FilesClient, SockitError, type PutTreeEvent } from '../../../src/index.js';
import { PARTIAL_DIR } from '../../../src/services/files/internal.js';
import { ChaosTcpProxy } from '../../helpers/chaos/tcp-proxy.js';
import { captureLogger } from '../../helpers/echo.js';
import { TOKEN, connectFiles, makeFile, sha256, sha256File, startFiles, tree } from './helpers.js';

const T = { timeout: 60_000 };

function code(err: unknown): string {
  return err instanceof SockitError ? err.code : String(err);
}

function describe(event: PutTreeEvent): string {
  switch (event.type) {
    case 'skip':
      return `skip ${event.reason}`;
    case 'start':
      return `start ${event.file.name}`;
    case 'put':
      return `put ${event.result.name}`;
    case 'error':
      return `error ${event.file.name} ${code(event.error)}`;
  }
}

test(
  'putTree: a DIR recursively in sorted order, symlinks skipped, a failed file does not stop the rest',
  T,
  async (t) => {
    const { address, root, work } = await startFiles(t);
    const dir = join(work, 'photos');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'b.txt'), 'bee');
    await writeFile(join(dir, 'a.txt'), 'ay');
    await makeFile(join(dir, 'sub', 'c.bin'), 3 * 1024 * 1024 + 3);
    await symlink('/etc/passwd', join(dir, 'link'));
    const client = await connectFiles(t, address);
    // photos/b.txt is already on the server: that put is refused (and closes its connection).
    await writeFile(join(work, 'other'), 'old');
    await client.put(join(work, 'other'), 'photos/b.txt');

    const events: string[] = [];
    const progress = new Map<string, number>();
    const result = await client.putTree(dir, {
      onEvent: (e) => events.push(describe(e)),
      onProgress: (name, done, total) => {
        assert.ok(done <= total);
        progress.set(name, done);
      },
    });
    assert.deepEqual(events, [
      'skip symlink',
      'start photos/a.txt',
      'put photos/a.txt',
      'start photos/b.txt',
      'error photos/b.txt EXISTS',
      'start photos/sub/c.bin',
      'put photos/sub/c.bin',
    ]);
    assert.deepEqual(
      result.stored.map((r) => [r.name, r.size]),
      [
        ['photos/a.txt', 2],
        ['photos/sub/c.bin', 3 * 1024 * 1024 + 3],
      ],
    );
    assert.deepEqual(
      result.failed.map((f) => [f.file.name, code(f.error)]),
      [['photos/b.txt', 'EXISTS']],
    );
    assert.equal(result.skipped, 1);
    assert.equal(progress.get('photos/sub/c.bin'), 3 * 1024 * 1024 + 3);
    assert.equal(
      await sha256File(join(root, 'photos/sub/c.bin')),
      await sha256File(join(dir, 'sub', 'c.bin')),
    );
    assert.equal(await readFile(join(root, 'photos/b.txt'), 'utf8'), 'old');
    assert.deepEqual(await tree(root), [
      `${PARTIAL_DIR}/`,
      'photos/',
      'photos/a.txt',
      'photos/b.txt',
      'photos/sub/',
      'photos/sub/c.bin',
    ]);

    // Several paths, one FILE renamed with `as`; the client works on after a tree.
    const one = await client.putTree(join(dir, 'a.txt'), { as: 'x/renamed.txt' });
    assert.deepEqual(
      one.stored.map((r) => r.name),
      ['x/renamed.txt'],
    );
    // A missing path is refused before anything is sent.
    await assert.rejects(
      client.putTree([join(dir, 'b.txt'), join(work, 'missing')], {}),
      (e) => code(e) === 'BAD_OPTION',
    );
    await assert.rejects(
      client.putTree([dir, join(dir, 'a.txt')], { as: 'y' }),
      (e) => code(e) === 'BAD_OPTION',
    );
    assert.deepEqual(
      (await client.list()).map((e) => e.name),
      ['photos/a.txt', 'photos/b.txt', 'photos/sub/c.bin', 'x/renamed.txt'],
    );
    await client.close();
  },
);

test(
  'put({ resume: true }): a put broken at 50% sends at most 52% again, and the whole file is verified',
  T,
  async (t) => {
    const { logger, waitFor } = captureLogger();
    const { address, root, work } = await startFiles(t, { logger });
    const size = 16 * 1024 * 1024;
    const src = join(work, 'big.bin');
    await makeFile(src, size);
    const whole = sha256(await readFile(src));

    // The first try: the connection is cut after half the file's bytes went up.
    const cut = await ChaosTcpProxy.start(t, address, {
      seed: 16,
      up: { closeAfterBytes: size / 2 },
    });
    const first = await FilesClient.connect(cut.address, { token: TOKEN, timeoutMs: 5_000 });
    t.after(() => first.destroy());
    await assert.rejects(first.put(src, 'big.bin', { resume: true }), (e) =>
      ['CONNECTION_CLOSED', 'CONNECTION_RESET', 'INCOMPLETE'].includes(code(e)),
    );
    const kept = await waitFor((r) => r.op === 'put' && r.result === 'INCOMPLETE');
    const partial = Number(kept.kept);
    assert.ok(partial > size * 0.45 && partial <= size / 2, `partial ${partial}`);

    // The resume, through a proxy that only counts: the bytes that cross the wire.
    const clean = await ChaosTcpProxy.start(t, address, { seed: 16 });
    const second = await FilesClient.connect(clean.address, { token: TOKEN, timeoutMs: 5_000 });
    t.after(() => second.destroy());
    const result = await second.put(src, 'big.bin', { resume: true });
    assert.equal(result.offset, partial);
    assert.equal(result.sent, size - partial);
    assert.equal(result.sha256, whole);
    assert.equal(await sha256File(join(root, 'big.bin')), whole);
    const sentShare = clean.stats.bytesUp / size;
    assert.ok(sentShare <= 0.52, `resume sent ${clean.stats.bytesUp} bytes (${sentShare})`);
    t.diagnostic(
      `resume of a 16 MiB put cut at 50%: ${clean.stats.bytesUp} bytes up (${(sentShare * 100).toFixed(2)}%), partial ${partial}`,
    );
    await second.close();

    // Nothing held: resume sends the whole file. A partial longer than the file: the whole file.
    const c = await connectFiles(t, address);
    const fresh = await c.put(src, 'again.bin', { resume: true });
    assert.deepEqual([fresh.offset, fresh.sent], [0, size]);
    await assert.rejects(
      c.put(src, 'x', { resume: true, offset: 1 }),
      (e) => code(e) === 'BAD_OPTION',
    );
    await c.close();
  },
);

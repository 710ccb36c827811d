import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { FilesServer, type EnvelopeHeader } from '../../../src/index.js';
import { tempDir } from '../../helpers/echo.js';
import { LOOPBACK } from '../../helpers/net.js';
import { TOKEN, connectFiles, outcome, rawChannel, rawRequest, sha256 } from './helpers.js';

const T = { timeout: 30_000 };

/**
 * A 2 MiB tmpfs of our own: a real ENOSPC without filling the machine's
 * disk. Needs root (CI runs as root); elsewhere the test skips loudly.
 */
async function smallDisk(t: TestContext, before: () => Promise<void>): Promise<string | undefined> {
  // Not tempDir(): its clean-up would run before the unmount.
  const base = await mkdtemp(join(tmpdir(), 'sockit-full-'));
  const mnt = join(base, 'mnt');
  await mkdir(mnt);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mnt], {
    encoding: 'utf8',
  });
  t.after(async () => {
    await before();
    if (mounted.status === 0) spawnSync('umount', [mnt]);
    await rm(base, { recursive: true, force: true });
  });
  if (mounted.status !== 0) {
    const why = `cannot mount a tmpfs (${(mounted.stderr || mounted.error?.message || '').trim()}); run as root to test ENOSPC`;
    process.stderr.write(`\n*** SKIPPED: ${t.name}: ${why} ***\n\n`);
    t.skip(why);
    return undefined;
  }
  return mnt;
}

test(
  'disk full: NO_SPACE before the body, and mid-body; the partial is removed; the server keeps serving',
  T,
  async (t) => {
    const running: { server?: FilesServer } = {};
    const mnt = await smallDisk(t, async () => {
      await running.server?.close(0);
    });
    if (mnt === undefined) return;
    const root = join(mnt, 'root');
    const server = new FilesServer({ root, token: TOKEN });
    running.server = server;
    const address = await server.listen(LOOPBACK);

    // Declared larger than the free space: refused from the header alone.
    const ch = await rawChannel(t, address);
    const big: EnvelopeHeader = {
      type: 'put',
      name: 'big',
      size: 3 * 1024 * 1024,
      sha256: '0'.repeat(64),
    };
    assert.equal(outcome(await rawRequest(ch, big)), 'NO_SPACE');

    // Fits when asked, but the disk fills up while the body streams.
    const body = Buffer.alloc(1536 * 1024, 7);
    const ch2 = await rawChannel(t, address);
    const accepted = new Promise<EnvelopeHeader>((resolve) => {
      ch2.setHandlers({ header: resolve });
    });
    ch2.send({ type: 'put', name: 'victim', size: body.length, sha256: sha256(body) });
    ch2.resume();
    assert.equal((await accepted).type, 'continue');
    await mkdir(join(mnt, 'filler'));
    await writeFile(join(mnt, 'filler', 'f'), Buffer.alloc(1800 * 1024)).catch(() => undefined);
    const result = await new Promise<EnvelopeHeader>((resolve) => {
      ch2.setHandlers({
        header: resolve,
        close: () => resolve({ type: 'CLOSED' }),
      });
      ch2.sendBody(body);
      ch2.resume();
    });
    assert.equal(outcome(result), 'NO_SPACE');
    // Policy: a disk-full upload's partial is removed, giving the space back at once.
    assert.deepEqual(await readdir(join(root, '.sockit-partial')), []);
    assert.deepEqual((await readdir(root)).sort(), ['.sockit-partial']);

    // Still serving; and once there is room, uploads work again.
    await rm(join(mnt, 'filler'), { recursive: true });
    const client = await connectFiles(t, address);
    const src = join(await tempDir(t), 'small');
    await writeFile(src, 'fits now');
    assert.equal((await client.put(src, 'small')).size, 8);
  },
);

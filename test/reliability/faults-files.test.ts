// Files through the chaos TCP proxy, with a direct canary client served
// throughout: a reset or a close after N bytes mid-put (typed error; only
// complete, verified files are ever listed; the partial resumes through a
// clean path), a get under slicing and latency (byte-identical), and a reset
// mid-get (nothing at the -o target, only the .sockit-part partial).
// Broken uploads without the proxy are in test/services/files/transfer.test.ts.
import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { FilesClient, type Address } from '../../src/index.js';
import { DOWNLOAD_PARTIAL_SUFFIX, PARTIAL_DIR } from '../../src/services/files/internal.js';
import { Canary, figure, outcomeOf, timed, within } from '../helpers/chaos/canary.js';
import { ChaosTcpProxy, type DirectionFaults } from '../helpers/chaos/tcp-proxy.js';
import { captureLogger } from '../helpers/echo.js';
import {
  TOKEN,
  connectFiles,
  makeFile,
  sha256,
  sha256File,
  startFiles,
  tree,
} from '../services/files/helpers.js';

const T = { timeout: 30_000 };
const SEED = Number(process.env.CHAOS_SEED ?? 868);
const SIZE = 1024 * 1024 + 7;

async function filesCanary(t: TestContext, address: Address, work: string): Promise<Canary> {
  const client = await connectFiles(t, address);
  const src = join(work, 'canary.src');
  await makeFile(src, 1_000);
  await client.put(src, 'canary.bin');
  return Canary.start(
    t,
    'files',
    async () => {
      const st = await client.stat('canary.bin');
      assert.equal(st?.fileSize, 1_000);
    },
    { intervalMs: 50, deadlineMs: 1_000 },
  );
}

async function proxied(t: TestContext, proxy: ChaosTcpProxy): Promise<FilesClient> {
  const client = await FilesClient.connect(proxy.address, { token: TOKEN, timeoutMs: 5_000 });
  t.after(() => {
    client.destroy();
  });
  return client;
}

const cuts: [string, DirectionFaults, string[]][] = [
  ['reset after 300 000 bytes', { resetAfterBytes: 300_000 }, ['CONNECTION_RESET']],
  [
    'close after 300 000 bytes (limit_data)',
    { closeAfterBytes: 300_000 },
    ['CONNECTION_CLOSED', 'INCOMPLETE', 'CONNECTION_RESET'],
  ],
];

describe('files put under TCP faults', () => {
  for (const [name, up, codes] of cuts) {
    it(
      `${name} mid-put: a typed error; only verified files listed; the partial resumes cleanly`,
      T,
      async (t) => {
        const { logger, waitFor } = captureLogger();
        const { address, root, work } = await startFiles(t, { logger });
        const canary = await filesCanary(t, address, work);
        const src = join(work, 'big.src');
        await makeFile(src, SIZE);
        const data = await readFile(src);
        const proxy = await ChaosTcpProxy.start(t, address, {
          seed: SEED,
          up: { ...up, slice: { min: 1_000, max: 64_000 } },
        });
        const client = await proxied(t, proxy);
        const { value: code, ms } = await timed(
          within(5_000, 'cut put', outcomeOf(client.put(src, 'dir/big.bin'))),
        );
        assert.ok(codes.includes(code), code);
        assert.ok(ms < 3_000, `${ms} ms`);
        // The server has seen the upload end without its commit.
        const log = await within(
          3_000,
          'the server to end the put',
          waitFor((r) => r.op === 'put' && r.name === 'dir/big.bin' && r.result !== 'ok'),
        );
        const clean = await connectFiles(t, address);
        // Only complete, verified files are visible; the bytes that came are only in the partial area.
        assert.deepEqual(
          (await clean.list()).map((e) => [e.name, e.size]),
          [['canary.bin', 1_000]],
        );
        const files = await tree(root);
        assert.deepEqual(
          files.filter((p) => !p.endsWith('/') && !p.startsWith(`${PARTIAL_DIR}/`)),
          ['canary.bin'],
        );
        assert.equal(
          files.filter((p) => p.startsWith(`${PARTIAL_DIR}/`) && !p.endsWith('/')).length,
          1,
        );
        const partial = (await clean.stat('dir/big.bin'))?.partial;
        assert.ok(partial !== undefined && partial > 0 && partial <= 300_000, `partial ${partial}`);
        // Resume through a clean path: only the rest is sent, the whole file verified.
        const { value: result, ms: resumeMs } = await timed(
          clean.put(src, 'dir/big.bin', { offset: partial }),
        );
        assert.equal(result.sent, SIZE - partial);
        assert.equal(result.sha256, sha256(data));
        assert.equal(await sha256File(join(root, 'dir/big.bin')), sha256(data));
        assert.deepEqual(await readdir(join(root, PARTIAL_DIR)), []);
        assert.deepEqual(
          (await clean.list()).map((e) => [e.name, e.size]),
          [
            ['canary.bin', 1_000],
            ['dir/big.bin', SIZE],
          ],
        );
        figure(`files put ${name}`, {
          code,
          clientMs: ms,
          serverResult: String(log.result),
          partialBytes: partial,
          resumedBytes: result.sent,
          resumeMs,
          lost: 0,
        });
        await canary.assertHealthy();
      },
    );
  }
});

describe('files get under TCP faults', () => {
  it(
    'sliced 1-1 500 bytes, 5 ms + 5 ms jitter, 4 MiB/s: the download is byte-identical',
    T,
    async (t) => {
      const { address, root, work } = await startFiles(t);
      const canary = await filesCanary(t, address, work);
      const src = join(work, 'big.src');
      await makeFile(src, SIZE);
      await (await connectFiles(t, address)).put(src, 'big.bin');
      const proxy = await ChaosTcpProxy.start(t, address, {
        seed: SEED,
        up: { latencyMs: 5, jitterMs: 5, slice: { min: 1, max: 50 } },
        down: {
          latencyMs: 5,
          jitterMs: 5,
          bandwidth: 4 * 1024 * 1024,
          slice: { min: 1, max: 1_500 },
        },
      });
      const client = await proxied(t, proxy);
      const dest = join(work, 'big.out');
      const { value: got, ms } = await timed(within(10_000, 'get', client.get('big.bin', dest)));
      assert.equal(got.size, SIZE);
      assert.ok((await readFile(dest)).equals(await readFile(join(root, 'big.bin'))));
      assert.equal(await sha256File(dest), await sha256File(src));
      assert.ok(!(await readdir(work)).some((n) => n.endsWith(DOWNLOAD_PARTIAL_SUFFIX)));
      figure('files get slice/latency/bandwidth', { bytes: SIZE, ms, lost: 0 });
      await canary.assertHealthy();
    },
  );

  it(
    'reset mid-get: a typed error; nothing at the -o target, only the .sockit-part prefix; a clean resume verifies',
    T,
    async (t) => {
      const { address, work } = await startFiles(t);
      const canary = await filesCanary(t, address, work);
      const src = join(work, 'big.src');
      await makeFile(src, SIZE);
      const data = await readFile(src);
      await (await connectFiles(t, address)).put(src, 'big.bin');
      const proxy = await ChaosTcpProxy.start(t, address, {
        seed: SEED,
        down: { resetAfterBytes: 400_000, slice: { min: 1_000, max: 64_000 } },
      });
      const client = await proxied(t, proxy);
      const dest = join(work, 'big.out');
      const { value: code, ms } = await timed(
        within(5_000, 'reset get', outcomeOf(client.get('big.bin', dest))),
      );
      assert.equal(code, 'CONNECTION_RESET');
      assert.ok(ms < 3_000, `${ms} ms`);
      await assert.rejects(stat(dest), { code: 'ENOENT' });
      const partialPath = `${dest}${DOWNLOAD_PARTIAL_SUFFIX}`;
      const partial = await readFile(partialPath).catch(() => Buffer.alloc(0));
      assert.ok(partial.length < 400_000, `partial of ${partial.length} bytes`);
      assert.ok(partial.equals(data.subarray(0, partial.length)), 'the partial is not a prefix');
      // Resume through a clean path: verified end to end, then in place.
      const clean = await connectFiles(t, address);
      const got = await clean.get('big.bin', dest, { resume: true });
      assert.equal(got.offset, partial.length);
      assert.equal(await sha256File(dest), sha256(data));
      await assert.rejects(stat(partialPath), { code: 'ENOENT' });
      figure('files get reset mid-transfer', {
        code,
        clientMs: ms,
        partialBytes: partial.length,
        resumedBytes: got.received,
        lost: 0,
      });
      await canary.assertHealthy();
    },
  );
});

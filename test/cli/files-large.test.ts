import assert from 'node:assert/strict';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { FilesClient, parseAddress } from '../../src/index.js';
import { tokenWorld } from '../helpers/env.js';
import { startServe } from '../helpers/proc.js';
import { makeFile, sha256File } from '../services/files/helpers.js';

const TOKEN = 'large-test-token-0123456789abcdef';
const MiB = 1024 * 1024;

/** VmRSS of a process, in bytes. */
async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

test(
  '1 GiB round trip: byte-identical, server RSS growth under 64 MB',
  { timeout: 120_000 },
  async (t) => {
    const w = await tokenWorld(t, TOKEN, 'sockit-files-large-');
    const { proc, tcp } = await startServe(
      t,
      ['files', '--port', '0', '--root', w.root, '--token-file', w.tokenFile],
      {
        env: w.env,
      },
    );
    const pid = proc.child.pid as number;
    const address = parseAddress(tcp, { port: 0 });
    const src = join(w.dir, 'one-gib.bin');
    const size = 1024 * MiB;
    await makeFile(src, size);
    t.after(() => unlink(src).catch(() => undefined));
    const expected = await sha256File(src);
    const client = await FilesClient.connect(address, { token: TOKEN });
    t.after(() => client.destroy());
    // Warm up (code paths compiled, buffers allocated) before the baseline.
    const small = join(w.dir, 'small');
    await writeFile(small, Buffer.alloc(3 * MiB, 1));
    await client.put(small, 'warm');
    await client.get('warm', join(w.dir, 'warm.out'));
    const base = await rss(pid);
    let peak = base;
    const sampler = setInterval(() => {
      void rss(pid).then(
        (v) => {
          peak = Math.max(peak, v);
        },
        () => undefined,
      );
    }, 50);
    t.after(() => clearInterval(sampler));

    const t0 = performance.now();
    const up = await client.put(src, 'one-gib.bin');
    const t1 = performance.now();
    await mkdir(join(w.dir, 'dl'));
    const out = join(w.dir, 'dl', 'one-gib.bin');
    const down = await client.get('one-gib.bin', out);
    const t2 = performance.now();
    clearInterval(sampler);
    peak = Math.max(peak, await rss(pid));
    t.after(() => unlink(out).catch(() => undefined));
    t.after(() => unlink(join(w.root, 'one-gib.bin')).catch(() => undefined));

    assert.equal(up.sha256, expected);
    assert.equal(down.sha256, expected);
    assert.equal(await sha256File(out), expected);
    const growth = peak - base;
    t.diagnostic(
      `upload ${((t1 - t0) / 1000).toFixed(2)} s, download ${((t2 - t1) / 1000).toFixed(2)} s, ` +
        `server RSS ${(base / MiB).toFixed(1)} → peak ${(peak / MiB).toFixed(1)} MiB (+${(growth / MiB).toFixed(1)})`,
    );
    assert.ok(growth < 64 * 1000 * 1000, `server RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
  },
);

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { watch } from 'node:fs';
import { readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  FilesClient,
  FilesServer,
  parseAddress,
  type Address,
  type EnvelopeHeader,
} from '../../src/index.js';
import { foldName } from '../../src/services/files/internal.js';
import { captureLogger } from '../helpers/echo.js';
import { tokenWorld, type TokenWorld } from '../helpers/env.js';
import { LOOPBACK, jsonLines } from '../helpers/net.js';
import { CLI, LogProcess, runCli, startServe } from '../helpers/proc.js';
import { makeFile, rawChannel, sha256File } from '../services/files/helpers.js';

const TOKEN = 'crash-test-token-0123456789abcdef';
const MiB = 1024 * 1024;

function world(t: TestContext): Promise<TokenWorld> {
  return tokenWorld(t, TOKEN, 'sockit-files-crash-');
}

function partialPath(root: string, name: string): string {
  return join(root, '.sockit-partial', createHash('sha256').update(foldName(name)).digest('hex'));
}

/** Resolves once `path` holds at least `bytes` (inotify on its directory; re-checked on each event). */
function grows(path: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = false;
    const check = (): void => {
      stat(path).then(
        (s) => {
          if (!done && s.size >= bytes) {
            done = true;
            watcher.close();
            resolve(s.size);
          }
        },
        () => undefined,
      );
    };
    const watcher = watch(join(path, '..'), check);
    watcher.on('error', reject);
    check();
  });
}

test(
  'server SIGKILLed mid-upload: restarted, it has lost no completed file, and the client resumes',
  { timeout: 60_000 },
  async (t) => {
    const w = await world(t);
    const args = ['files', '--port', '0', '--root', w.root, '--token-file', w.tokenFile];
    const first = await startServe(t, args, { env: w.env });
    const address = parseAddress(first.tcp, { port: 0 });
    const done = join(w.dir, 'done.bin');
    await makeFile(done, 3 * MiB);
    const c1 = await FilesClient.connect(address, { token: TOKEN });
    await c1.put(done, 'done.bin');
    c1.destroy();

    const src = join(w.dir, 'big.bin');
    const size = 64 * MiB + 3;
    await makeFile(src, size);
    const data = await readFile(src);
    // Half of the body, then the server dies with the upload in flight.
    const ch = await rawChannel(t, address, { token: TOKEN });
    const accepted = new Promise<EnvelopeHeader>((resolve) => {
      ch.setHandlers({ header: resolve, close: () => undefined });
    });
    ch.send({ type: 'put', name: 'big.bin', size });
    ch.resume();
    assert.equal((await accepted).type, 'continue');
    void (async () => {
      for (let pos = 0; pos < 32 * MiB && !ch.connection.isClosed; pos += MiB) {
        if (!ch.sendBody(data.subarray(pos, pos + MiB))) await ch.drained();
      }
    })();
    await grows(partialPath(w.root, 'big.bin'), 16 * MiB);
    first.proc.kill('SIGKILL');
    assert.equal((await first.proc.result).signal, 'SIGKILL');

    const second = await startServe(t, args, { env: w.env });
    const client = await FilesClient.connect(parseAddress(second.tcp, { port: 0 }), {
      token: TOKEN,
    });
    t.after(() => client.destroy());
    // The completed file survived intact.
    assert.equal(await sha256File(join(w.root, 'done.bin')), await sha256File(done));
    const st = await client.stat('big.bin');
    assert.equal(st?.fileSize, undefined);
    const held = st?.partial ?? 0;
    assert.ok(held >= 16 * MiB && held <= 32 * MiB, `partial of ${held} bytes`);
    const result = await client.put(src, 'big.bin', { offset: held });
    assert.equal(result.sent, size - held);
    assert.equal(result.sha256, await sha256File(src));
    assert.equal(await sha256File(join(w.root, 'big.bin')), result.sha256);
  },
);

test(
  'client SIGKILLed mid-upload (sockit put): put --resume sends only the rest',
  { timeout: 60_000 },
  async (t) => {
    const w = await world(t);
    const log = captureLogger();
    const server = new FilesServer({ root: w.root, token: TOKEN, logger: log.logger });
    t.after(() => server.close(0));
    const bound = await server.listen(LOOPBACK);
    const target = `127.0.0.1:${(bound as Address & { port: number }).port}`;
    const src = join(w.dir, 'video.bin');
    const size = 256 * MiB + 11;
    await makeFile(src, size);

    const child = spawn(
      process.execPath,
      [CLI, 'put', target, src, '--json', '--token-file', w.tokenFile],
      {
        env: w.env,
        stdio: 'pipe',
      },
    );
    const proc = new LogProcess(child);
    t.after(() => proc.kill('SIGKILL'));
    await grows(partialPath(w.root, 'video.bin'), 32 * MiB);
    proc.kill('SIGKILL');
    assert.equal((await proc.result).signal, 'SIGKILL');
    const cut = await log.waitFor((r) => r.op === 'put' && r.result === 'INCOMPLETE');
    assert.ok(
      typeof cut.kept === 'number' && cut.kept >= 32 * MiB && cut.kept < size,
      `kept ${String(cut.kept)}`,
    );

    const resumed = await runCli(
      t,
      ['put', target, src, '--resume', '--json', '--token-file', w.tokenFile],
      { env: w.env },
    );
    assert.equal(resumed.code, 0, resumed.stderr);
    const event = jsonLines(resumed.stdout)[0];
    assert.ok(event);
    const kept = cut.kept;
    assert.equal(event.offset, kept);
    assert.equal(event.sent, size - kept);
    assert.equal(event.sha256, await sha256File(src));
    assert.equal(await sha256File(join(w.root, 'video.bin')), event.sha256);
    await unlink(src);
  },
);

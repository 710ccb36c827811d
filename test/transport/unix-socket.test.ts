import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { NetworkError, TcpServer, type Address } from '../../src/index.js';
import { rawConnect, readAll } from '../helpers/net.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sockit-unix-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function hello(): TcpServer {
  return new TcpServer((conn) => {
    conn.start({ data: () => undefined });
    conn.end(Buffer.from('hi\n'));
  });
}

describe('Unix-domain sockets', () => {
  it('serves on a path, readable and writable by the owner only', async (t) => {
    const address: Address = { kind: 'unix', path: join(tempDir(t), 's.sock') };
    const server = hello();
    t.after(() => server.close(0));
    await server.listen(address);
    assert.equal(statSync(address.path).mode & 0o777, 0o600);
    assert.equal((await readAll(await rawConnect(address))).toString(), 'hi\n');
  });

  it('a stale socket left by a killed server is removed and the new server starts', async (t) => {
    const path = join(tempDir(t), 'stale.sock');
    // A separate process listens, then dies by SIGKILL: its socket file stays behind.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(existsSync(path), 'the killed server left its socket file');
    const server = hello();
    t.after(() => server.close(0));
    await server.listen({ kind: 'unix', path });
    assert.equal((await readAll(await rawConnect({ kind: 'unix', path }))).toString(), 'hi\n');
  });

  it('a live server on the path means ALREADY_RUNNING, and it keeps serving', async (t) => {
    const address: Address = { kind: 'unix', path: join(tempDir(t), 'live.sock') };
    const first = hello();
    t.after(() => first.close(0));
    await first.listen(address);
    await assert.rejects(hello().listen(address), (err: unknown) => {
      assert.ok(err instanceof NetworkError);
      assert.equal(err.code, 'ALREADY_RUNNING');
      assert.match(err.message, /already running on unix:/);
      return true;
    });
    assert.equal((await readAll(await rawConnect(address))).toString(), 'hi\n');
  });

  it('a regular file at the path is never deleted', async (t) => {
    const path = join(tempDir(t), 'precious.txt');
    writeFileSync(path, 'keep me');
    await assert.rejects(
      hello().listen({ kind: 'unix', path }),
      (err: unknown) => err instanceof NetworkError && err.code === 'NOT_A_SOCKET',
    );
    assert.equal(readFileSync(path, 'utf8'), 'keep me');
  });

  it('close() removes the socket file', async (t) => {
    const address: Address = { kind: 'unix', path: join(tempDir(t), 'gone.sock') };
    const server = hello();
    await server.listen(address);
    await server.close(0);
    assert.ok(!existsSync(address.path));
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect as netConnect, createServer } from 'node:net';
import { describe, it } from 'node:test';
import { NetworkError, connect, type Address } from '../../src/index.js';
import { requireTool } from '../helpers/tools.js';

function isNetworkError(code: string, pattern: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof NetworkError, `expected a NetworkError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/, 'one line');
    return true;
  };
}

/** A port nothing listens on: bind one, then close it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('TCP client errors', () => {
  it('refused: "connect to HOST:PORT: connection refused"', async () => {
    const port = await freePort();
    await assert.rejects(
      connect({ kind: 'inet', host: '127.0.0.1', port }),
      isNetworkError(
        'CONNECTION_REFUSED',
        new RegExp(`^connect to 127\\.0\\.0\\.1:${port}: connection refused$`),
      ),
    );
  });

  it('a Unix socket path with nothing behind it is refused too', async () => {
    await assert.rejects(
      connect({ kind: 'unix', path: '/nonexistent/sockit.sock' }),
      isNetworkError('CONNECTION_REFUSED', /unix:\/nonexistent\/sockit\.sock/),
    );
  });

  it('timed out: a listener whose accept queue is full never answers the SYN', async (t) => {
    if (!requireTool(t, 'python3')) return;
    // listen(0) and never accept: once the queue holds a connection, Linux drops further SYNs.
    const py = spawn(
      'python3',
      [
        '-c',
        "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()",
      ],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    t.after(() => py.kill());
    const port = await new Promise<number>((resolve) =>
      py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    const fillers = Array.from({ length: 3 }, () =>
      netConnect({ host: '127.0.0.1', port }).on('error', () => undefined),
    );
    t.after(() => fillers.forEach((s) => s.destroy()));
    const target: Address = { kind: 'inet', host: '127.0.0.1', port };
    await assert.rejects(
      connect(target, { connectTimeoutMs: 300 }),
      isNetworkError('CONNECT_TIMEOUT', /^connect to 127\.0\.0\.1:\d+: timed out after 300 ms$/),
    );
  });
});

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { it } from 'node:test';
import { tempDir } from '../helpers/echo.js';
import { runCli } from '../helpers/proc.js';
import { watch } from '../helpers/relay.js';
import { requireTool } from '../helpers/tools.js';

const T = { timeout: 20_000 };

/** Whether something accepts on 127.0.0.1:port now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

it('an HTTP/1.1 GET piped into sockit connect prints the raw response', T, async (t) => {
  if (!requireTool(t, 'python3')) return;
  const root = await tempDir(t);
  const body = 'hello over http\nsecond line\n';
  await writeFile(`${root}/hello.txt`, body);
  // Port 0: python binds a free port and says which on its first line.
  const server = watch(t, 'python3', [
    '-u',
    '-m',
    'http.server',
    '0',
    '--bind',
    '127.0.0.1',
    '--directory',
    root,
  ]);
  await server.stdoutHas('Serving HTTP');
  const port = Number(/port (\d+)/.exec(server.stdout.text())?.[1]);
  assert.ok(port > 0, server.stdout.text());
  // Poll by connecting until it accepts (no blind sleep).
  while (!(await accepts(port))) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const request = `GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`;
  const r = await runCli(t, ['connect', `127.0.0.1:${port}`], { input: request });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const [head, content] = r.stdout.split('\r\n\r\n');
  assert.match(head!, /^HTTP\/1\.[01] 200 OK\r\n/);
  assert.match(head!, new RegExp(`\r\nContent-Length: ${body.length}\r\n`, 'i'));
  assert.equal(content, body);
});

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { TOKEN, startExec } from '../helpers/exec.js';
import { portOf } from '../helpers/net.js';
import { run } from '../helpers/proc.js';
import { requireTool } from '../helpers/tools.js';

const CLIENT = fileURLToPath(new URL('peers/exec_client.py', import.meta.url));

test('a python3 socket client authenticates and runs a command (SPEC §2.3 wire format)', async (t) => {
  if (!requireTool(t, 'python3')) return;
  const { address } = await startExec(t);
  const r = await run(
    t,
    'python3',
    [
      CLIENT,
      '127.0.0.1',
      String(portOf(address)),
      'from python\n',
      'sh',
      '-c',
      'cat; echo warn >&2; exit 4',
    ],
    { env: { ...process.env, SOCKIT_TOKEN: TOKEN } },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    hello: { type: 'hello', service: 'exec', version: 1 },
    ready: 'ready',
    started: 'started',
    stdout: 'from python\n',
    stderr: 'warn\n',
    exit: { type: 'exit', code: 4, signal: null },
  });
});

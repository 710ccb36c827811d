import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SockitError } from '../../../src/index.js';
import { tempDir } from '../../helpers/echo.js';
import {
  Collect,
  alive,
  eventually,
  execClient,
  runRemote,
  startExec,
} from '../../helpers/exec.js';

function isCode(code: string): (err: unknown) => boolean {
  return (err) => err instanceof SockitError && err.code === code;
}

describe('exec runs argv directly (SPEC §2.3)', () => {
  it('passes shell metacharacters literally', async (t) => {
    const { address } = await startExec(t);
    const client = await execClient(t, address);
    const args = [
      '; rm -rf /tmp/nothing',
      '$(id)',
      '`id`',
      '&& echo pwned',
      '| cat',
      '*',
      '\'"',
      '$HOME',
    ];
    const { exit, stdout } = await runRemote(client, { argv: ['printf', '%s\\n', ...args] });
    assert.equal(exit.code, 0);
    assert.equal(stdout.text, args.map((a) => `${a}\n`).join(''));
  });

  it('reports code, signal and duration as distinct fields', async (t) => {
    const { address } = await startExec(t);
    const client = await execClient(t, address);
    const three = await runRemote(client, { argv: ['sh', '-c', 'exit 3'] });
    assert.equal(three.exit.code, 3);
    assert.equal(three.exit.signal, null);
    assert.ok(three.exit.durationMs >= 0);
    const killed = await runRemote(client, { argv: ['sh', '-c', 'kill -TERM $$'] });
    assert.equal(killed.exit.code, null);
    assert.equal(killed.exit.signal, 'SIGTERM');
  });

  it('keeps stdout and stderr apart', async (t) => {
    const { address } = await startExec(t);
    const client = await execClient(t, address);
    const { stdout, stderr } = await runRemote(client, {
      argv: ['sh', '-c', 'echo out; echo err >&2; echo out2'],
    });
    assert.equal(stdout.text, 'out\nout2\n');
    assert.equal(stderr.text, 'err\n');
  });

  it('runs commands one after another on one connection, with cwd and env', async (t) => {
    const { address } = await startExec(t);
    const dir = await tempDir(t);
    const client = await execClient(t, address);
    const pwd = await runRemote(client, { argv: ['pwd'], cwd: dir });
    assert.equal(pwd.stdout.text.trim(), dir);
    const env = await runRemote(client, {
      argv: ['sh', '-c', 'printf %s "$GREETING"'],
      env: { GREETING: 'hi there' },
    });
    assert.equal(env.stdout.text, 'hi there');
  });

  it('never passes SOCKIT_TOKEN on to commands', async (t) => {
    const { address } = await startExec(t, {
      env: { ...process.env, SOCKIT_TOKEN: 'secret-secret-secret' },
    });
    const client = await execClient(t, address);
    const { stdout } = await runRemote(client, { argv: ['env'] });
    assert.doesNotMatch(stdout.text, /SOCKIT_TOKEN/);
  });

  it('streams binary stdin and stdout byte-identical', async (t) => {
    const { address } = await startExec(t);
    const client = await execClient(t, address);
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const { exit, stdout } = await runRemote(client, { argv: ['cat'] }, data);
    assert.equal(exit.code, 0);
    assert.ok(stdout.buffer.equals(data));
  });

  it('streams a file as stdin, EOF included (cat file | sockit exec -- wc -l)', async (t) => {
    const { address } = await startExec(t);
    const dir = await tempDir(t);
    const file = join(dir, 'lines');
    await writeFile(file, 'a\n'.repeat(100_000));
    const client = await execClient(t, address);
    const { stdout } = await runRemote(client, { argv: ['wc', '-l'] }, createReadStream(file));
    assert.equal(stdout.text.trim(), '100000');
  });

  it('answers COMMAND_NOT_FOUND, and the connection stays usable', async (t) => {
    const { address } = await startExec(t);
    const client = await execClient(t, address);
    await assert.rejects(
      runRemote(client, { argv: ['no-such-command-xyz'] }),
      isCode('COMMAND_NOT_FOUND'),
    );
    await assert.rejects(
      runRemote(client, { argv: ['true'], cwd: '/no/such/dir' }),
      isCode('SPAWN_FAILED'),
    );
    const { exit } = await runRemote(client, { argv: ['true'] });
    assert.equal(exit.code, 0);
  });

  it('refuses a shell string unless the server allows it', async (t) => {
    const strict = await startExec(t);
    const client = await execClient(t, strict.address);
    await assert.rejects(runRemote(client, { shell: 'echo hi' }), isCode('NOT_ALLOWED'));
    const relaxed = await startExec(t, { allowShell: true });
    const other = await execClient(t, relaxed.address);
    const { stdout } = await runRemote(other, { shell: 'echo $((1+2))' });
    assert.equal(stdout.text, '3\n');
  });

  it('--allow restricts argv[0], and refuses env that would change what runs', async (t) => {
    const { address } = await startExec(t, { allow: ['echo', 'true'] });
    const client = await execClient(t, address);
    const ok = await runRemote(client, { argv: ['echo', 'fine'] });
    assert.equal(ok.stdout.text, 'fine\n');
    await assert.rejects(runRemote(client, { argv: ['ls'] }), isCode('NOT_ALLOWED'));
    await assert.rejects(runRemote(client, { argv: ['/bin/echo', 'x'] }), isCode('NOT_ALLOWED'));
    await assert.rejects(
      runRemote(client, { argv: ['echo'], env: { PATH: '/tmp' } }),
      isCode('NOT_ALLOWED'),
    );
    await assert.rejects(
      runRemote(client, { argv: ['echo'], env: { LD_PRELOAD: '/tmp/x.so' } }),
      isCode('NOT_ALLOWED'),
    );
  });

  it('a bad request is answered BAD_REQUEST without closing', async (t) => {
    const { address } = await startExec(t);
    const client = await execClient(t, address);
    await assert.rejects(runRemote(client, { argv: [] }), isCode('BAD_REQUEST'));
    await assert.rejects(runRemote(client, { argv: ['echo', 'a\0b'] }), isCode('BAD_REQUEST'));
    const { exit } = await runRemote(client, { argv: ['true'] });
    assert.equal(exit.code, 0);
  });
});

describe('exec bounds: timeouts, disconnects, concurrency, output', () => {
  const forkSleeper = ['sh', '-c', 'sleep 300 & echo $!; wait'];

  it('a timeout kills the whole process group', async (t) => {
    const { address } = await startExec(t, { killGraceMs: 200 });
    const client = await execClient(t, address);
    const { exit, stdout } = await runRemote(client, { argv: forkSleeper, timeoutMs: 300 });
    assert.equal(exit.reason, 'COMMAND_TIMEOUT');
    assert.equal(exit.signal, 'SIGTERM');
    const grandchild = Number(stdout.text.trim());
    assert.ok(grandchild > 0);
    await eventually(() => !alive(grandchild), `grandchild ${grandchild} to die`);
  });

  it('a client disconnect kills the whole process group', async (t) => {
    const { address, server } = await startExec(t, { killGraceMs: 200 });
    const client = await execClient(t, address);
    const stdout = new Collect();
    const gotPid = new Promise<number>((resolve) => {
      stdout.on('pipe', () => undefined);
      const original = stdout.write.bind(stdout);
      stdout.write = ((chunk: Buffer, ...rest: never[]) => {
        resolve(Number(chunk.toString().trim()));
        return original(chunk, ...rest);
      }) as typeof stdout.write;
    });
    let leader: number | undefined;
    const running = client.run(
      { argv: forkSleeper },
      { stdout, stderr: new Collect(), onStarted: (pid) => (leader = pid) },
    );
    running.catch(() => undefined);
    const grandchild = await gotPid;
    assert.ok(leader !== undefined && alive(leader) && alive(grandchild));
    client.destroy();
    await eventually(
      () => !alive(grandchild) && !alive(leader as number),
      'the process group to die',
    );
    await eventually(() => server.commands === 0, 'the server to forget the command');
  });

  it('a command that exits leaves no background child behind', async (t) => {
    const { address } = await startExec(t);
    const client = await execClient(t, address);
    const { exit, stdout } = await runRemote(client, {
      argv: ['sh', '-c', 'sleep 300 >/dev/null 2>&1 & echo $!'],
    });
    assert.equal(exit.code, 0);
    const straggler = Number(stdout.text.trim());
    await eventually(() => !alive(straggler), `background child ${straggler} to be killed`);
  });

  it('forwards a signal to the command', async (t) => {
    const { address } = await startExec(t);
    const client = await execClient(t, address);
    const stdout = new Collect();
    const run = client.run(
      { argv: ['sleep', '300'] },
      {
        stdout,
        stderr: new Collect(),
        onStarted: () => {
          client.signal('SIGINT');
        },
      },
    );
    const exit = await run;
    assert.equal(exit.signal, 'SIGINT');
  });

  it('answers BUSY past maxCommands; the others carry on', async (t) => {
    const { address } = await startExec(t, { maxCommands: 1 });
    const first = await execClient(t, address);
    let started!: () => void;
    const isRunning = new Promise<void>((resolve) => (started = resolve));
    // The first command waits for a line we send only after the second was refused.
    const release = new PassThrough();
    const stdout = new Collect();
    const slow = first.run(
      { argv: ['sh', '-c', 'read x; echo "done $x"'] },
      { stdout, stderr: new Collect(), stdin: release, onStarted: () => started() },
    );
    await isRunning;
    const second = await execClient(t, address);
    await assert.rejects(runRemote(second, { argv: ['true'] }), isCode('BUSY'));
    release.end('go\n');
    const exit = await slow;
    assert.equal(stdout.text, 'done go\n');
    assert.equal(exit.code, 0);
    const after = await runRemote(second, { argv: ['true'] });
    assert.equal(after.exit.code, 0);
  });

  it('caps output with OUTPUT_LIMIT, reported in the exit', async (t) => {
    const { address } = await startExec(t, { maxOutput: 100_000 });
    const client = await execClient(t, address);
    const { exit, stdout } = await runRemote(client, { argv: ['yes'] });
    assert.equal(exit.reason, 'OUTPUT_LIMIT');
    assert.equal(stdout.bytes, 100_000);
    assert.equal(exit.stdoutBytes, 100_000);
  });

  it('serves many clients at once', async (t) => {
    const { address } = await startExec(t, { maxCommands: 64 });
    const results = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const client = await execClient(t, address);
        const { stdout } = await runRemote(client, { argv: ['sh', '-c', `echo ${i}`] });
        return stdout.text.trim();
      }),
    );
    assert.deepEqual(
      results,
      Array.from({ length: 24 }, (_, i) => String(i)),
    );
  });

  it('a slow reader pauses the command instead of growing memory', async (t) => {
    const { address } = await startExec(t);
    const client = await execClient(t, address);
    const stdout = new Collect(1); // 1 ms per 64 KiB: ~64 MB/s at best
    const total = 64 * 1024 * 1024;
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    t.after(() => clearInterval(sampler));
    const exit = await client.run(
      { argv: ['head', '-c', String(total), '/dev/zero'] },
      { stdout, stderr: new Collect() },
    );
    clearInterval(sampler);
    stdout.end();
    await once(stdout, 'finish');
    assert.equal(exit.code, 0);
    assert.equal(stdout.bytes, total);
    // Server and client share this process: both together stay far below the 64 MiB moved.
    assert.ok(
      peak - before < 48 * 1024 * 1024,
      `RSS grew ${((peak - before) / 1048576).toFixed(1)} MiB`,
    );
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ExecClient, parseAddress } from '../../src/index.js';
import { tempDir } from '../helpers/echo.js';
import { isolatedEnv } from '../helpers/env.js';
import { Collect } from '../helpers/exec.js';
import { jsonLines } from '../helpers/net.js';
import { CLI, finished, runCli, startServe } from '../helpers/proc.js';

async function serveExec(
  t: TestContext,
  extra: string[] = [],
): Promise<{
  env: NodeJS.ProcessEnv;
  host: string;
  tokenPath: string;
  proc: Awaited<ReturnType<typeof startServe>>['proc'];
}> {
  const env = await isolatedEnv(t);
  const { tcp, proc } = await startServe(t, ['exec', '--port', '0', ...extra], { env });
  return {
    env,
    host: tcp,
    tokenPath: join(env.XDG_CONFIG_HOME, 'sockit', 'token'),
    proc,
  };
}

describe('sockit serve exec + sockit exec', () => {
  it('serve creates a 0600 token once; the local client finds it', async (t) => {
    const { env, host, tokenPath, proc } = await serveExec(t);
    const info = await stat(tokenPath);
    assert.equal(info.mode & 0o777, 0o600);
    assert.equal((await stat(join(tokenPath, '..'))).mode & 0o777, 0o700);
    const tokenLog = await proc.waitFor((r) => r.event === 'token');
    assert.equal(tokenLog.created, true);
    assert.equal(tokenLog.origin, tokenPath); // where, never what
    const result = await runCli(t, ['exec', host, '--', 'echo', 'hello'], { env });
    assert.equal(result.stdout, 'hello\n');
    assert.equal(result.code, 0);
  });

  it('writes remote stdout and stderr apart and exits with the remote code', async (t) => {
    const { env, host } = await serveExec(t);
    const result = await runCli(
      t,
      ['exec', host, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'],
      { env },
    );
    assert.equal(result.stdout, 'out\n');
    assert.equal(result.stderr, 'err\n');
    assert.equal(result.code, 7);
  });

  it('streams stdin to the command, EOF included (cat file | sockit exec -- wc -l)', async (t) => {
    const { env, host } = await serveExec(t);
    const result = await runCli(t, ['exec', host, '--', 'wc', '-l'], {
      env,
      input: 'x\n'.repeat(5000),
    });
    assert.equal(result.stdout.trim(), '5000');
  });

  it('128+n for a signal, 127 for a missing command, 255 for its own failures', async (t) => {
    const { env, host } = await serveExec(t);
    const killed = await runCli(t, ['exec', host, '--', 'sh', '-c', 'kill -KILL $$'], { env });
    assert.equal(killed.code, 137);
    const missing = await runCli(t, ['exec', host, '--', 'no-such-cmd-xyz'], { env });
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /COMMAND_NOT_FOUND/);
    const wrong = await runCli(t, ['exec', host, '--', 'true'], {
      env: { ...env, SOCKIT_TOKEN: 'not-the-token-at-all' },
    });
    assert.equal(wrong.code, 255);
    assert.match(wrong.stderr, /AUTH_FAILED/);
    assert.doesNotMatch(wrong.stderr, /\n\s+at /); // no stack trace
  });

  it('without any token the client says where to find one (TOKEN_MISSING)', async (t) => {
    const { host } = await serveExec(t);
    const elsewhere = await isolatedEnv(t);
    const result = await runCli(t, ['exec', host, '--', 'true'], { env: elsewhere });
    assert.equal(result.code, 255);
    assert.match(result.stderr, /TOKEN_MISSING/);
  });

  it('refuses a token file that others can read (TOKEN_INSECURE)', async (t) => {
    const { env, host, tokenPath } = await serveExec(t);
    const dir = await tempDir(t);
    const loose = join(dir, 'token');
    await writeFile(loose, 'a-token-that-is-long-enough\n');
    await chmod(loose, 0o644);
    const result = await runCli(t, ['exec', host, '--token-file', loose, '--', 'true'], { env });
    assert.equal(result.code, 2); // a local set-up problem, like a bad option
    assert.match(result.stderr, /TOKEN_INSECURE/);
    // --token-file pointing at the real token works.
    const ok = await runCli(t, ['exec', host, '--token-file', tokenPath, '--', 'true'], { env });
    assert.equal(ok.code, 0);
  });

  it('--json prints started, output and exit as JSON lines', async (t) => {
    const { env, host } = await serveExec(t);
    const result = await runCli(
      t,
      ['exec', '--json', host, '--', 'sh', '-c', 'printf hi; printf oops >&2; exit 3'],
      { env },
    );
    const events = jsonLines(result.stdout);
    assert.deepEqual(
      events.map((e) => e.type),
      events
        .map((e) => e.type)
        .filter((x) => ['started', 'stdout', 'stderr', 'exit'].includes(String(x))),
    );
    assert.equal(events[0]?.type, 'started');
    assert.equal(
      events
        .filter((e) => e.type === 'stdout')
        .map((e) => e.text)
        .join(''),
      'hi',
    );
    assert.equal(
      events
        .filter((e) => e.type === 'stderr')
        .map((e) => String(e.text))
        .join(''),
      'oops',
    );
    const exit = events.at(-1);
    assert.ok(exit);
    assert.equal(exit.type, 'exit');
    assert.equal(exit.code, 3);
    assert.equal(exit.exitCode, 3);
    assert.equal(result.code, 3);
  });

  it('Ctrl-C is forwarded as SIGINT to the remote command', async (t) => {
    const { env, host, proc } = await serveExec(t);
    const child = spawn(process.execPath, [CLI, 'exec', host, '-n', '--', 'sleep', '300'], {
      env,
      stdio: 'pipe',
    });
    t.after(() => child.kill('SIGKILL'));
    const done = finished(child);
    await proc.waitFor((r) => r.event === 'exec_start', 'the command to start');
    child.kill('SIGINT');
    const result = await done;
    assert.equal(result.code, 130);
    const exit = await proc.waitFor((r) => r.event === 'exec_exit');
    assert.equal(exit.signal, 'SIGINT');
  });

  it('audits each command in one log line: peer, argv, exit, duration, bytes', async (t) => {
    const { env, host, proc } = await serveExec(t);
    await runCli(t, ['exec', host, '--', 'cat'], { env, input: 'twelve bytes' });
    const audit = await proc.waitFor((r) => r.event === 'exec_exit');
    assert.deepEqual(audit.argv, ['cat']);
    assert.equal(audit.code, 0);
    assert.equal(audit.stdinBytes, 12);
    assert.equal(audit.stdoutBytes, 12);
    assert.match(String(audit.remote), /^127\.0\.0\.1:\d+$/);
    assert.equal(typeof audit.durationMs, 'number');
  });

  it('serve --allow and --allow-shell are enforced end to end', async (t) => {
    const { env, host } = await serveExec(t, ['--allow', 'echo']);
    const ok = await runCli(t, ['exec', host, '--', 'echo', 'yes'], { env });
    assert.equal(ok.stdout, 'yes\n');
    const no = await runCli(t, ['exec', host, '--', 'id'], { env });
    assert.equal(no.code, 255);
    assert.match(no.stderr, /NOT_ALLOWED/);
    const shell = await runCli(t, ['exec', host, '--shell', 'echo hi'], { env });
    assert.match(shell.stderr, /NOT_ALLOWED/);
  });

  it('a remote error message cannot drive the terminal', async (t) => {
    const { env, host } = await serveExec(t);
    const result = await runCli(t, ['exec', host, '--', 'no\u001b[2Jsuch'], { env });
    assert.ok(!result.stderr.includes('\u001b'));
    assert.match(result.stderr, /\\x1b\[2J/);
  });

  it('100 MB of output to a slow reader keeps the server RSS bounded', async (t) => {
    const { host, tokenPath, proc } = await serveExec(t);
    const pid = proc.child.pid as number;
    const rss = async (): Promise<number> => {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
    };
    const token = (await readFile(tokenPath, 'utf8')).trim();
    const client = await ExecClient.connect(parseAddress(host, { port: 7022 }), { token });
    t.after(() => client.destroy());
    const before = await rss();
    let peak = before;
    const sampler = setInterval(() => {
      void rss().then(
        (v) => (peak = Math.max(peak, v)),
        () => undefined,
      );
    }, 25);
    t.after(() => clearInterval(sampler));
    const total = 100 * 1000 * 1000;
    const stdout = new Collect(1); // 1 ms per 64 KiB write: a reader slower than the command
    const exit = await client.run(
      { argv: ['head', '-c', String(total), '/dev/zero'] },
      { stdout, stderr: new Collect() },
    );
    clearInterval(sampler);
    stdout.end();
    await once(stdout, 'finish');
    assert.equal(exit.code, 0);
    assert.equal(stdout.bytes, total);
    const grewMiB = (peak - before) / 1048576;
    // Measured: ~30 MiB of heap warm-up whether 30 MB or 300 MB flow; a queue would grow by ~100 MB.
    assert.ok(grewMiB < 48, `server RSS grew ${grewMiB.toFixed(1)} MiB while sending 100 MB`);
  });
});

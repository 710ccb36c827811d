import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test, type TestContext } from 'node:test';
import { runCli, type RunResult } from '../helpers/proc.js';

const T = { timeout: 20_000 };

/** Exit 2, a short message on stderr, nothing on stdout, no stack trace. */
function assertUsageError(r: RunResult, pattern: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.equal(r.stdout, '', what);
  assert.match(r.stderr, pattern, what);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  assert.ok(
    r.stderr.trimEnd().split('\n').length <= 2,
    `${what}: at most an error line and a hint:\n${r.stderr}`,
  );
}

/** Runs every case at once (each is its own process) and checks each. */
async function checkAll(t: TestContext, cases: [string[], RegExp][]): Promise<void> {
  const results = await Promise.all(cases.map(([args]) => runCli(t, args)));
  results.forEach((r, i) => {
    const [args, pattern] = cases[i]!;
    assertUsageError(r, pattern, args.join(' '));
  });
}

test('usage errors exit 2: unknown option, bad framing, bad duration', T, async (t) => {
  await checkAll(t, [
    [['echo', '--bogus', '127.0.0.1:7007', 'a'], /unknown option '--bogus'/],
    [['serve', 'echo', '--bogus'], /unknown option '--bogus'/],
    [['echo', '--framing', 'u64', '127.0.0.1:7007', 'a'], /'u64' is invalid.*u32be, u32le, raw/],
    [['serve', 'echo', '--framing', 'xml'], /'xml' is invalid/],
    [['serve', 'echo', '--reply', 'shout'], /'shout' is invalid/],
    [['echo', '--timeout', 'soon', '127.0.0.1:7007', 'a'], /duration/],
  ]);
});

test('usage errors exit 2: bad addresses and ports', T, async (t) => {
  await checkAll(t, [
    [['echo', '127.0.0.1:99999', 'a'], /port 99999 is out of range.*\(BAD_ADDRESS\)/],
    [['echo', 'bad_host!:7', 'a'], /bad address.*\(BAD_ADDRESS\)/],
    [['echo', 'host:1:2', 'a'], /brackets.*\(BAD_ADDRESS\)/],
    [['echo', 'unix:', 'a'], /empty Unix socket path/],
    [['echo', '--udp', 'unix:/tmp/x.sock', 'a'], /UDP needs host:port.*\(BAD_ADDRESS\)/],
    [['serve', 'echo', '--port', '70000'], /--port.*'70000' is invalid/],
    [['serve', 'echo', '--listen', 'host:port:x'], /BAD_ADDRESS/],
  ]);
});

test('usage errors exit 2: missing argument, unknown service or command', T, async (t) => {
  await checkAll(t, [
    [['echo'], /missing required argument 'host'/],
    [['serve', 'nosuch'], /unknown service "nosuch".*\(BAD_OPTION\)/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ]);
});

test('--help exits 0 and prints usage on stdout, for the root and every command', T, async (t) => {
  const all = [['--help'], ['echo', '--help'], ['serve', '--help'], ['help', 'echo']];
  const results = await Promise.all(all.map((args) => runCli(t, args)));
  for (const [i, args] of all.entries()) {
    const r = results[i]!;
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: sockit/, args.join(' '));
    assert.equal(r.stderr, '');
  }
  const serve = await runCli(t, ['serve', '--help']);
  for (const option of [
    '--port',
    '--listen',
    '--framing',
    '--reply',
    '--max-connections',
    '--no-udp',
  ]) {
    assert.ok(serve.stdout.includes(option), `serve --help mentions ${option}`);
  }
});

test('--version prints the package version and exits 0', T, async (t) => {
  const pkg = JSON.parse(
    await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
  ) as {
    version: string;
  };
  const r = await runCli(t, ['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `${pkg.version}\n`);
});

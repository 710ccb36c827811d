import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { tokenWorld, type TokenWorld } from '../helpers/env.js';
import { jsonLines } from '../helpers/net.js';
import { CLI, run, runCli, startServe, type RunResult } from '../helpers/proc.js';
import { requireTool } from '../helpers/tools.js';

const T = { timeout: 30_000 };
const TOKEN = 'cli-test-token-0123456789abcdef';

function world(t: TestContext): Promise<TokenWorld> {
  return tokenWorld(t, TOKEN, 'sockit-files-cli-');
}

function ok(r: RunResult): void {
  assert.equal(r.code, 0, `exit ${r.code}, stderr: ${r.stderr}`);
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

test(
  'sockit put DIR / ls / get: recursive upload, JSON lines, escaped names, exit codes',
  T,
  async (t) => {
    const w = await world(t);
    const { tcp } = await startServe(
      t,
      ['files', '--port', '0', '--root', w.root, '--token-file', w.tokenFile],
      { env: w.env },
    );
    const src = join(w.dir, 'photos');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'alpha');
    await writeFile(join(src, 'sub', 'b.bin'), Buffer.alloc(70_000, 3));
    await symlink('/etc/passwd', join(src, 'link'));
    const tf = ['--token-file', w.tokenFile];

    const put = await runCli(t, ['put', tcp, src, '--json', ...tf], { env: w.env });
    ok(put);
    const events = jsonLines(put.stdout);
    assert.deepEqual(
      events.map((e) => [e.type, e.name ?? e.reason]),
      [
        ['skip', 'symlink'],
        ['put', 'photos/a.txt'],
        ['put', 'photos/sub/b.bin'],
      ],
    );
    assert.equal(events[1]?.sha256, sha('alpha'));
    assert.equal(put.stderr, '', 'no progress bar in a pipe');
    assert.equal(await readFile(join(w.root, 'photos', 'a.txt'), 'utf8'), 'alpha');

    const ls = await runCli(t, ['ls', tcp, ...tf], { env: w.env });
    ok(ls);
    assert.match(
      ls.stdout,
      /^ +5 {2}\S+ {2}photos\/a\.txt\n +70000 {2}\S+ {2}photos\/sub\/b\.bin\n$/,
    );
    const lsJson = jsonLines(
      (await runCli(t, ['ls', tcp, 'photos/sub', '--json', ...tf], { env: w.env })).stdout,
    );
    assert.deepEqual(
      lsJson.map((e) => [e.type, e.name, e.size]),
      [['entry', 'photos/sub/b.bin', 70000]],
    );

    const out = join(w.dir, 'dl');
    await mkdir(out);
    const get = await runCli(t, ['get', tcp, 'photos/sub/b.bin', '-o', out, '--json', ...tf], {
      env: w.env,
    });
    ok(get);
    const [got] = jsonLines(get.stdout);
    assert.equal(got?.path, join(out, 'b.bin'));
    assert.deepEqual(await readFile(join(out, 'b.bin')), Buffer.alloc(70_000, 3));

    // Again: the file exists now.
    const again = await runCli(t, ['get', tcp, 'photos/sub/b.bin', '-o', out, ...tf], {
      env: w.env,
    });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists.*\(EXISTS\)/);
    // Uploading the same file again: EXISTS, exit 1, the stored file intact.
    const dup = await runCli(t, ['put', tcp, join(src, 'a.txt'), '--as', 'photos/a.txt', ...tf], {
      env: w.env,
    });
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /photos\/a\.txt: .*\(EXISTS\)/);
    // Remote errors: exit 1; a bad name from the command line: exit 1 with BAD_NAME.
    const missing = await runCli(t, ['get', tcp, 'nope', '--json', ...tf], { env: w.env });
    assert.equal(missing.code, 1);
    assert.equal(jsonLines(missing.stdout)[0]?.code, 'NOT_FOUND');
    const bad = await runCli(t, ['get', tcp, '../etc/passwd', ...tf], { env: w.env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /BAD_NAME/);
    // Usage errors: exit 2.
    assert.equal(
      (await runCli(t, ['put', tcp, src, join(src, 'a.txt'), '--as', 'x', ...tf], { env: w.env }))
        .code,
      2,
    );
    assert.equal(
      (await runCli(t, ['put', tcp, join(w.dir, 'does-not-exist'), ...tf], { env: w.env })).code,
      2,
    );
    assert.equal((await runCli(t, ['ls'], { env: w.env })).code, 2);
    // A wrong token: AUTH_FAILED, exit 1.
    const wrong = join(w.dir, 'wrong');
    await writeFile(wrong, 'a-wrong-token-0123456789\n', { mode: 0o600 });
    const denied = await runCli(t, ['ls', tcp, '--token-file', wrong], { env: w.env });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /AUTH_FAILED/);
  },
);

test('names with control characters are printed escaped', T, async (t) => {
  const w = await world(t);
  await mkdir(w.root, { recursive: true });
  // Planted by someone with access to the root: listed? Never raw. (Names that break the rules are not listed.)
  await writeFile(join(w.root, 'ok name.txt'), 'x');
  await writeFile(join(w.root, 'evil\u001b[2Jname'), 'x');
  const { tcp } = await startServe(
    t,
    ['files', '--port', '0', '--root', w.root, '--token-file', w.tokenFile],
    { env: w.env },
  );
  const ls = await runCli(t, ['ls', tcp, '--token-file', w.tokenFile], { env: w.env });
  ok(ls);
  assert.ok(!ls.stdout.includes('\u001b'));
  assert.match(ls.stdout, /ok name\.txt/);
  // A local file whose name has an escape: refused by name, shown escaped.
  const src = join(w.dir, 'esc\u001b[31m');
  await writeFile(src, 'x');
  const put = await runCli(t, ['put', tcp, src, '--token-file', w.tokenFile], { env: w.env });
  assert.equal(put.code, 1);
  assert.ok(!put.stderr.includes('\u001b'), put.stderr);
  assert.match(put.stderr, /esc\\x1b\[31m.*BAD_NAME/);
});

test(
  'serve files: --insecure-no-auth is refused off loopback (exit 2); --framing raw is a usage error',
  T,
  async (t) => {
    const w = await world(t);
    // --insecure-plaintext: past the TLS rule, to the no-auth one.
    const off = await runCli(
      t,
      [
        'serve',
        'files',
        '--host',
        '0.0.0.0',
        '--port',
        '0',
        '--root',
        w.root,
        '--insecure-no-auth',
        '--insecure-plaintext',
      ],
      { env: w.env },
    );
    assert.equal(off.code, 2, off.stderr);
    assert.match(off.stdout + off.stderr, /insecure-no-auth/);
    const raw = await runCli(
      t,
      [
        'serve',
        'files',
        '--port',
        '0',
        '--root',
        w.root,
        '--framing',
        'raw',
        '--token-file',
        w.tokenFile,
      ],
      { env: w.env },
    );
    assert.equal(raw.code, 2);
    await assert.rejects(readdir(w.root)); // nothing was created
  },
);

test(
  'serve files creates the default root (0700) and the token (0600) on first use, logging where, never what',
  T,
  async (t) => {
    const w = await world(t);
    const { proc, tcp } = await startServe(t, ['files', '--port', '0'], { env: w.env });
    const token = (await readFile(join(w.dir, 'config', 'sockit', 'token'), 'utf8')).trim();
    const { stat } = await import('node:fs/promises');
    const rootInfo = await stat(join(w.dir, 'data', 'sockit', 'sockit-files'));
    assert.equal(rootInfo.mode & 0o777, 0o700);
    const logged = JSON.stringify(proc.records);
    assert.ok(!logged.includes(token), 'the token never appears in the log');
    assert.match(logged, /"event":"token"/);
    // The local client finds the token where serve put it.
    const ls = await runCli(t, ['ls', tcp, '--json'], { env: w.env });
    ok(ls);
    assert.equal(ls.stdout, '');
  },
);

test(
  'the tutorial client: u32le struct.pack("i", n), {file_name, file_size, md5}, no auth, lands verified',
  T,
  async (t) => {
    if (!requireTool(t, 'python3')) return;
    const w = await world(t);
    const { proc, tcp } = await startServe(
      t,
      ['files', '--port', '0', '--root', w.root, '--framing', 'u32le', '--insecure-no-auth'],
      { env: w.env },
    );
    const port = tcp.split(':').pop() as string;
    const script = `
import socket, struct, json, hashlib, os, sys
port, path, lie = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "lie"
data = open(path, "rb").read()
md5 = hashlib.md5(b"other" if lie else data).hexdigest()
header = json.dumps({"file_name": os.path.basename(path), "file_size": len(data), "md5": md5}).encode()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect(("127.0.0.1", port))
s.send(struct.pack("i", len(header)))
s.send(header)
s.sendall(data)
s.close()
`;
    const src = join(w.dir, 'report.pdf');
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    await writeFile(src, data);
    const r = await run(t, 'python3', ['-c', script, port, src, 'ok'], { env: w.env });
    ok(r);
    const record = await proc.waitFor(
      (x) => x.event === 'request' && x.name === 'report.pdf',
      'the put',
    );
    assert.equal(record.result, 'ok');
    assert.equal(record.op, 'put(tutorial)');
    assert.deepEqual(await readFile(join(w.root, 'report.pdf')), data);

    // A wrong md5: HASH_MISMATCH, nothing stored.
    const liar = join(w.dir, 'liar.bin');
    await writeFile(liar, 'some bytes');
    ok(await run(t, 'python3', ['-c', script, port, liar, 'lie'], { env: w.env }));
    const bad = await proc.waitFor(
      (x) => x.event === 'request' && x.name === 'liar.bin',
      'the bad put',
    );
    assert.equal(bad.result, 'HASH_MISMATCH');
    assert.deepEqual((await readdir(w.root)).sort(), ['.sockit-partial', 'report.pdf']);
  },
);

test('over TLS: serve files --tls, put/get --tls --trust-on-first-use', T, async (t) => {
  const w = await world(t);
  const { tcp } = await startServe(
    t,
    ['files', '--tls', '--port', '0', '--root', w.root, '--token-file', w.tokenFile],
    {
      env: w.env,
    },
  );
  const src = join(w.dir, 'secret.txt');
  await writeFile(src, 'over tls');
  const tls = ['--tls', '--trust-on-first-use', '--token-file', w.tokenFile, '--json'];
  const put = await runCli(t, ['put', tcp, src, ...tls], { env: w.env });
  ok(put);
  assert.equal(jsonLines(put.stdout)[0]?.sha256, sha('over tls'));
  const get = await runCli(t, ['get', tcp, 'secret.txt', '-o', join(w.dir, 'back.txt'), ...tls], {
    env: w.env,
  });
  ok(get);
  assert.equal(await readFile(join(w.dir, 'back.txt'), 'utf8'), 'over tls');
  // Plain TCP to a TLS port: a clear refusal, exit 1.
  const plain = await runCli(t, ['ls', tcp, '--token-file', w.tokenFile], { env: w.env });
  assert.equal(plain.code, 1);
});

test('a progress bar (bytes, rate, ETA) on a terminal, none in a pipe', T, async (t) => {
  if (!requireTool(t, 'script', 'bsdutils')) return;
  const w = await world(t);
  const { tcp } = await startServe(
    t,
    ['files', '--port', '0', '--root', w.root, '--token-file', w.tokenFile],
    {
      env: w.env,
    },
  );
  const src = join(w.dir, 'big.bin');
  await writeFile(src, Buffer.alloc(64 * 1024 * 1024));
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, CLI, 'put', tcp, src, '--token-file', w.tokenFile]
    .map(quote)
    .join(' ');
  // script(1) gives the CLI a pseudo-terminal: stderr.isTTY is true there.
  const tty = await run(t, 'script', ['-q', '-e', '-c', command, '/dev/null'], { env: w.env });
  assert.equal(tty.code, 0, tty.stdout);
  assert.match(
    tty.stdout,
    /\[[=-]+\] \d+% \| [\d.]+ (B|KiB|MiB) \/ 64\.0 MiB \| [\d.]+ (B|KiB|MiB)\/s \| ETA/,
  );
  assert.match(tty.stdout, /big\.bin {2}64\.0 MiB {2}sha256 [0-9a-f]{64}/);
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/echo.js';
import { runCli, type RunResult } from '../helpers/proc.js';
import { freePort, startListen, watch, watchCli } from '../helpers/relay.js';
import { requireTool } from '../helpers/tools.js';
import { jsonLines } from '../helpers/net.js';

const T = { timeout: 20_000 };

function assertOk(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
}

describe('sockit connect / listen: relaying', () => {
  it("listen 0 and connect: each side gets the other's stdin, byte for byte", T, async (t) => {
    const { proc, address } = await startListen(t, ['127.0.0.1:0']);
    assert.match(address, /^127\.0\.0\.1:\d+$/);
    const toClient = randomBytes(200_000);
    const toServer = randomBytes(300_000);
    proc.child.stdin.end(toClient);
    const client = await runCli(t, ['connect', address], { input: toServer });
    const server = await proc.result;
    assertOk(client, 'connect');
    assertOk(server, 'listen');
    assert.ok(client.stdoutBytes.equals(toClient), 'connect printed exactly what listen read');
    assert.ok(server.stdoutBytes.equals(toServer), 'listen printed exactly what connect read');
    assert.equal(client.stderr, '', 'quiet without -v');
    assert.match(server.stderr, /^sockit: listening on tcp 127\.0\.0\.1:\d+\n/);
    assert.match(server.stderr, /sockit: connection from 127\.0\.0\.1:\d+\n/);
    assert.match(
      server.stderr,
      /sockit: closed 127\.0\.0\.1:\d+, 300000 B in, 200000 B out, \d+ ms\n/,
    );
  });

  it('HOST PORT as two arguments, and IPv6', T, async (t) => {
    const { proc, address } = await startListen(t, ['::1', '0']);
    const port = /^\[::1\]:(\d+)$/.exec(address)?.[1];
    assert.ok(port, address);
    proc.child.stdin.end('v6 ok\n');
    const client = await runCli(t, ['connect', '::1', port], { input: 'hi\n' });
    assertOk(client, 'connect');
    assert.equal(client.stdout, 'v6 ok\n');
    assert.equal((await proc.result).stdout, 'hi\n');
  });

  it('over a Unix socket', T, async (t) => {
    const path = join(await tempDir(t), 'cli.sock');
    const { proc, address } = await startListen(t, [`unix:${path}`]);
    assert.equal(address, `unix:${path}`);
    proc.child.stdin.end('from unix listener\n');
    const client = await runCli(t, ['connect', `unix:${path}`], { input: 'from client\n' });
    assertOk(client, 'connect');
    assert.equal(client.stdout, 'from unix listener\n');
    assert.equal((await proc.result).stdout, 'from client\n');
  });

  it(
    'UDP: listen -u serves the first peer, connect -u waits --linger for the reply',
    T,
    async (t) => {
      const { proc, address } = await startListen(t, ['-u', '127.0.0.1:0']);
      const client = watchCli(t, ['connect', '-u', '-q', '5', address]);
      client.child.stdin.write('datagram one\n');
      await proc.stdoutHas('datagram one\n');
      proc.child.stdin.write('reply\n');
      await client.stdoutHas('reply\n');
      client.child.stdin.end();
      proc.child.kill('SIGTERM');
      assert.equal((await proc.result).code, 0, 'a signal ends listen normally');
      assert.equal(client.stdout.text(), 'reply\n');
    },
  );

  it('listen -k: several clients; stdin goes to each; SIGTERM exits 0', T, async (t) => {
    const { proc, address } = await startListen(t, ['-k', '127.0.0.1:0']);
    const a = watchCli(t, ['connect', address]);
    const b = watchCli(t, ['connect', address]);
    a.child.stdin.write('from a\n');
    b.child.stdin.write('from b\n');
    await proc.stdoutHas('from a\n');
    await proc.stdoutHas('from b\n');
    proc.child.stdin.write('broadcast\n');
    await a.stdoutHas('broadcast\n');
    await b.stdoutHas('broadcast\n');
    proc.child.kill('SIGTERM');
    const server = await proc.result;
    assert.equal(server.code, 0, server.stderr);
    // The listener closed our connections: each client exits once its stdin ends too.
    a.child.stdin.end();
    b.child.stdin.end();
    assert.equal((await a.result).code, 0);
    assert.equal((await b.result).code, 0);
  });

  it('--allow: a refused client is reset, reported with -v, and gets nothing', T, async (t) => {
    const { proc, address } = await startListen(t, ['-k', '--allow', '10.0.0.0/8', '127.0.0.1:0']);
    const client = await runCli(t, ['connect', address], { input: 'knock knock\n' });
    assert.equal(client.code, 1, `connect: exit ${client.code}, stderr: ${client.stderr}`);
    // Reset on accept; a client that was still writing sees its write fail instead.
    assert.match(client.stderr, /\((CONNECTION_RESET|CONNECTION_CLOSED)\)\n$/);
    assert.equal(client.stdout, '');
    const refused = await proc.stderrMatch(/sockit: refused (\S+): (.*)\n/);
    assert.match(refused[0], /127\.0\.0\.1 is not in --allow \(ACCESS_DENIED\)/);
    assert.equal(proc.stdout.text(), '');
  });
});

describe('sockit connect / listen: --frames, --show-reads, --hex, --json', () => {
  it('two small sends coalesced: one read, two frames', T, async (t) => {
    const { proc, address } = await startListen(t, [
      '--frames',
      'u32be',
      '--show-reads',
      '127.0.0.1:0',
    ]);
    proc.child.stdin.end();
    const client = await runCli(t, ['connect', '--frames', 'u32be', address], {
      input: 'hello\nworld\n',
    });
    assertOk(client, 'connect');
    const server = await proc.result;
    assertOk(server, 'listen');
    assert.equal(server.stdout, 'hello\nworld\n');
    assert.match(
      server.stderr,
      /\nread 1: 18 B → frame 1 complete \(5 B\), frame 2 complete \(5 B\)\n/,
    );
  });

  it('a 10 KiB frame read in 4 KiB pieces (--read-size 4096)', T, async (t) => {
    const { proc, address } = await startListen(t, ['--frames', 'u32be', '127.0.0.1:0']);
    proc.child.stdin.end(`${'x'.repeat(10240)}\n`);
    const client = await runCli(
      t,
      ['connect', '--frames', 'u32be', '--show-reads', '--read-size', '4096', address],
      { input: '' },
    );
    assertOk(client, 'connect');
    assert.equal(client.stdout, `${'x'.repeat(10240)}\n`);
    assert.equal(
      client.stderr,
      'read 1: 4096 B → frame 1 started, 4092/10240 B\n' +
        'read 2: 4096 B → frame 1 continued, 8188/10240 B\n' +
        'read 3: 2052 B → frame 1 complete (10240 B, 3 reads)\n',
    );
  });

  it('--hex dumps both directions on stderr; stdout stays the data', T, async (t) => {
    const { proc, address } = await startListen(t, ['127.0.0.1:0']);
    proc.child.stdin.end('pong\n');
    const client = await runCli(t, ['connect', '-x', address], { input: 'ping\n' });
    assertOk(client, 'connect');
    assert.equal(client.stdout, 'pong\n');
    assert.match(client.stderr, /^> 00000000 {2}70 69 6e 67 0a +\|ping\.\|$/m);
    assert.match(client.stderr, /^< 00000000 {2}70 6f 6e 67 0a +\|pong\.\|$/m);
    assertOk(await proc.result, 'listen');
  });

  it('--json: events and frames as JSON lines on stdout', T, async (t) => {
    const { proc, address } = await startListen(t, ['--frames', 'u32le', '127.0.0.1:0']);
    proc.child.stdin.end('one\ntwo\n');
    const client = await runCli(t, ['connect', '--frames', 'u32le', '--json', address], {
      input: '',
    });
    assertOk(client, 'connect');
    const lines = jsonLines(client.stdout);
    assert.deepEqual(
      lines.map((l) => [l.type, l.text]),
      [
        ['connect', undefined],
        ['frame', 'one'],
        ['frame', 'two'],
        ['close', undefined],
      ],
    );
    assertOk(await proc.result, 'listen');
  });
});

describe('sockit connect / listen: exit codes and usage', () => {
  it('a refused connect exits 1 with one line on stderr', T, async (t) => {
    const port = await freePort('tcp');
    const r = await runCli(t, ['connect', `127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `sockit: connect to 127.0.0.1:${port}: connection refused (CONNECTION_REFUSED)\n`,
    );
    assert.equal(r.stdout, '');
    const j = await runCli(t, ['connect', '--json', `127.0.0.1:${port}`]);
    assert.equal(j.code, 1);
    assert.equal((JSON.parse(j.stdout) as { code: string }).code, 'CONNECTION_REFUSED');
  });

  it('-w: a connect that is never answered exits 1 with CONNECT_TIMEOUT', T, async (t) => {
    if (!requireTool(t, 'python3')) return;
    // listen(0) and never accept: once the queue holds a connection, Linux drops further SYNs.
    const py = watch(t, 'python3', [
      '-c',
      "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()",
    ]);
    await py.stdout.waitFor('\n');
    const port = Number(py.stdout.text().trim());
    const fillers = Array.from({ length: 3 }, () =>
      netConnect({ host: '127.0.0.1', port }).on('error', () => undefined),
    );
    t.after(() => {
      for (const s of fillers) s.destroy();
    });
    const r = await runCli(t, ['connect', '-w', '300ms', `127.0.0.1:${port}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr,
      `sockit: connect to 127.0.0.1:${port}: timed out after 300 ms (CONNECT_TIMEOUT)\n`,
    );
  });

  it('a UDP connect to a closed port exits 1 (ICMP port unreachable)', T, async (t) => {
    const port = await freePort('udp');
    const r = await runCli(t, ['connect', '-u', `127.0.0.1:${port}`], { input: 'anyone?\n' });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /connection refused \(CONNECTION_REFUSED\)\n$/);
  });

  it('a reader that closes stdout early ends the relay: exit 1, one line', T, async (t) => {
    const { proc, address } = await startListen(t, ['127.0.0.1:0']);
    proc.child.stdin.end(Buffer.alloc(4 * 1024 * 1024, 0x61));
    const client = watchCli(t, ['connect', address]);
    client.child.stdin.end();
    await client.stdout.waitFor((all) => all.length > 0);
    client.child.stdout.destroy(); // like `| head -c 1`
    const r = await client.result;
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, 'sockit: writing output: its reader has gone (EPIPE) (NETWORK_ERROR)\n');
  });

  it('usage errors exit 2 with one line', T, async (t) => {
    const cases: [string[], RegExp][] = [
      [['connect', '127.0.0.1'], /needs a port/],
      [['connect', '127.0.0.1:1', '2'], /port given twice/],
      [['connect', 'unix:/tmp/x', '2'], /takes no port/],
      [['connect', '--send-only', '--recv-only', '127.0.0.1:1'], /exclude each other/],
      [['connect', '--udp', '--frames', 'u32be', '127.0.0.1:1'], /--frames needs a stream/],
      [['connect', '--frames', 'u16', '127.0.0.1:1'], /'u16' is invalid/],
      [['connect', '-q', 'soon', '127.0.0.1:1'], /duration/],
      [['connect', '--udp', 'unix:/tmp/x.sock'], /UDP needs host:port/],
      [['listen', '--allow', 'example.com', '0'], /bad address rule "example\.com"/],
      [['listen', '--max-conns', '3', '0'], /--max-conns needs --keep-open/],
      [['listen', '--deny', '::1', 'unix:/tmp/x.sock'], /file mode/],
      [['listen', '--bogus', '0'], /unknown option '--bogus'/],
      [['listen'], /missing required argument 'address'/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(t, args, { input: '' })));
    results.forEach((r, i) => {
      const [args, pattern] = cases[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, ${r.stderr}`);
      assert.match(r.stderr, pattern, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.equal(r.stdout, '');
    });
  });

  it('--help describes each option, and the exit codes', T, async (t) => {
    const [connect, listen] = await Promise.all([
      runCli(t, ['connect', '--help']),
      runCli(t, ['listen', '--help']),
    ]);
    for (const [r, options] of [
      [
        connect,
        [
          '--udp',
          '--frames',
          '--linger',
          '--send-only',
          '--recv-only',
          '--show-reads',
          '--hex',
          '--timeout',
          '--read-size',
          '--json',
        ],
      ],
      [listen, ['--keep-open', '--max-conns', '--allow', '--deny', '--frames', '--show-reads']],
    ] as const) {
      assert.equal(r.code, 0);
      for (const option of options) assert.ok(r.stdout.includes(option), option);
      assert.match(r.stdout, /Exit codes: 0 ok, 1 network or protocol error, 2 usage error/);
    }
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { isolatedEnv } from '../helpers/env.js';
import { jsonLines } from '../helpers/net.js';
import { CLI, LogProcess, runCli, startCli, startServe } from '../helpers/proc.js';
import { requireTool } from '../helpers/tools.js';
import { WsPeer } from '../helpers/web.js';

/** `serve SERVICE --tls --port 0`: its address and the fingerprint it logged. */
async function serveTls(
  t: TestContext,
  service: string,
  env: NodeJS.ProcessEnv,
): Promise<{ host: string; fingerprint: string; proc: LogProcess }> {
  const { tcp, proc } = await startServe(t, [service, '--tls', '--port', '0'], { env });
  const tls = await proc.waitFor((r) => r.event === 'tls', 'the tls line');
  return { host: tcp, fingerprint: String(tls.fingerprint), proc };
}

describe('sockit serve --tls and the TLS clients', () => {
  it('serve --tls makes a self-signed certificate once (0600) and logs its fingerprint', async (t) => {
    const env = await isolatedEnv(t);
    const { fingerprint, proc } = await serveTls(t, 'echo', env);
    assert.match(fingerprint, /^SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const dir = join(env.XDG_CONFIG_HOME, 'sockit', 'tls');
    assert.equal((await stat(join(dir, 'key.pem'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'cert.pem'))).mode & 0o777, 0o600);
    const first = await proc.waitFor((r) => r.event === 'tls');
    assert.equal(first.created, true);
    proc.kill('SIGTERM');
    await proc.result;
    // A restart keeps the identity, so remembered fingerprints stay valid.
    const again = await serveTls(t, 'echo', env);
    assert.equal(again.fingerprint, fingerprint);
  });

  it('echo: refused until trusted, then TOFU remembers, then plain --tls works', async (t) => {
    const env = await isolatedEnv(t);
    const { host, fingerprint } = await serveTls(t, 'echo', env);
    const refused = await runCli(t, ['echo', '--tls', host, 'hi'], { env });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /CERT_UNTRUSTED/);
    assert.ok(refused.stderr.includes(fingerprint));
    const pinned = await runCli(t, ['echo', '--fingerprint', fingerprint, host, 'hi'], { env });
    assert.equal(pinned.stdout, 'HI\n');
    const tofu = await runCli(t, ['echo', '--trust-on-first-use', host, 'hi'], { env });
    assert.equal(tofu.stdout, 'HI\n');
    assert.match(tofu.stderr, /trusting .* on first use/);
    const known = await readFile(join(env.XDG_CONFIG_HOME, 'sockit', 'known_hosts'), 'utf8');
    assert.ok(known.includes(fingerprint));
    const later = await runCli(t, ['echo', '--tls', host, 'again'], { env });
    assert.equal(later.stdout, 'AGAIN\n');
    const plain = await runCli(t, ['echo', host, 'x'], { env });
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /NOT_TLS/);
  });

  it('exec over TLS, and exec/files refused on a non-loopback host without TLS', async (t) => {
    const env = await isolatedEnv(t);
    const { host, fingerprint } = await serveTls(t, 'exec', env);
    const result = await runCli(
      t,
      ['exec', '--fingerprint', fingerprint, host, '--', 'echo', 'sealed'],
      { env },
    );
    assert.equal(result.stdout, 'sealed\n');
    const exposed = await runCli(t, ['serve', 'exec', '--host', '0.0.0.0', '--port', '0'], { env });
    assert.equal(exposed.code, 2);
    assert.match(exposed.stderr, /TLS_REQUIRED/);
  });

  it('chat over TLS: the message a bot says comes back as an event', async (t) => {
    const env = await isolatedEnv(t);
    const { host, fingerprint } = await serveTls(t, 'chat', env);
    const result = await runCli(
      t,
      ['chat', '--fingerprint', fingerprint, host, '--nick', 'bot', '--json'],
      { env, input: '{"type":"say","text":"sealed hello"}\n' },
    );
    assert.equal(result.code, 0, result.stderr);
    const events = jsonLines(result.stdout);
    assert.ok(events.some((e) => e.type === 'message' && e.text === 'sealed hello'));
    const plain = await runCli(t, ['chat', host, '--json'], { env, input: '' });
    assert.equal(plain.code, 1);
    assert.ok(jsonLines(plain.stdout).some((e) => e.code === 'NOT_TLS'));
  });

  it('connect --tls talks to listen --tls', async (t) => {
    const env = await isolatedEnv(t);
    const listener = spawn(process.execPath, [CLI, 'listen', '--tls', '-v', '127.0.0.1:0'], {
      env,
      stdio: 'pipe',
    });
    t.after(() => listener.kill('SIGKILL'));
    // Listen now: the listener may exit before the client's own close is seen.
    const listenerClosed = new Promise((resolve) => listener.once('close', resolve));
    listener.stdin.end(); // nothing to send back: the listener's side ends at once
    const stderr: string[] = [];
    const banner = await new Promise<{ port: string; fingerprint: string }>((resolve) => {
      listener.stderr.on('data', (b: Buffer) => {
        stderr.push(b.toString());
        const text = stderr.join('');
        const port = /listening on tcp 127\.0\.0\.1:(\d+)/.exec(text)?.[1];
        const fp = /TLS certificate (SHA256:[0-9A-F:]+)/.exec(text)?.[1];
        if (port !== undefined && fp !== undefined) resolve({ port, fingerprint: fp });
      });
    });
    const out: Buffer[] = [];
    listener.stdout.on('data', (b: Buffer) => out.push(b));
    const result = await runCli(
      t,
      ['connect', '--fingerprint', banner.fingerprint, `127.0.0.1:${banner.port}`],
      { env, input: 'through tls\n' },
    );
    assert.equal(result.code, 0, result.stderr);
    await listenerClosed;
    assert.equal(Buffer.concat(out).toString(), 'through tls\n');
  });

  it('openssl s_client is an independent TLS peer (ALPN sockit/1)', async (t) => {
    if (!requireTool(t, 'openssl')) return;
    const env = await isolatedEnv(t);
    const { host } = await serveTls(t, 'echo', env);
    const client = spawn('openssl', ['s_client', '-quiet', '-alpn', 'sockit/1', '-connect', host], {
      stdio: 'pipe',
    });
    t.after(() => client.kill('SIGKILL'));
    const stderr: Buffer[] = [];
    client.stderr.on('data', (b: Buffer) => stderr.push(b));
    client.stdin.write('hello over openssl\n');
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      client.stdout.on('data', (b: Buffer) => {
        text += b.toString();
        if (text.includes('\n')) resolve(text);
      });
    });
    assert.equal(reply, 'HELLO OVER OPENSSL\n');
    client.stdin.end();
    client.kill('SIGTERM');
  });

  it('ncat --ssl is an independent TLS peer', async (t) => {
    if (!requireTool(t, 'ncat')) return;
    const env = await isolatedEnv(t);
    const { host } = await serveTls(t, 'echo', env);
    const [h, p] = host.split(':') as [string, string];
    const client = spawn('ncat', ['--ssl', h, p], { stdio: 'pipe' });
    t.after(() => client.kill('SIGKILL'));
    const out: Buffer[] = [];
    client.stdout.on('data', (b: Buffer) => out.push(b));
    client.stdin.end('hello over ncat\n');
    await new Promise((resolve) => client.once('close', resolve));
    assert.equal(Buffer.concat(out).toString(), 'HELLO OVER NCAT\n');
  });

  it('--json errors carry the TLS code', async (t) => {
    const env = await isolatedEnv(t);
    const { host } = await serveTls(t, 'echo', env);
    const result = await runCli(t, ['echo', '--json', '--tls', host, 'x'], { env });
    assert.equal(jsonLines(result.stdout)[0]?.code, 'CERT_UNTRUSTED');
  });

  it('web in front of a TLS chat broker: --chat with --chat-fingerprint', async (t) => {
    const env = await isolatedEnv(t);
    const broker = await serveTls(t, 'chat', env);
    const web = startCli(
      t,
      [
        'serve',
        'web',
        '--port',
        '0',
        '--chat',
        broker.host,
        '--chat-fingerprint',
        broker.fingerprint,
      ],
      { env },
    );
    const ready = await web.waitFor((r) => r.event === 'ready', 'the ready line');
    const services = ready.services as { addresses: string[] }[];
    const tcp = String(services[0]?.addresses[0]).replace(/^http /, '');
    const origin = `http://${tcp}`;
    const alice = await WsPeer.open(t, `ws://${tcp}/ws`, origin);
    const roster = await alice.join('lobby', 'alice');
    assert.deepEqual(roster.nicks, ['alice']);
    // A TLS client of the broker itself, in the same room as the browser user.
    const bot = await runCli(
      t,
      ['chat', '--fingerprint', broker.fingerprint, broker.host, '--nick', 'bot', '--json'],
      { env, input: '{"type":"say","text":"from the TLS side"}\n' },
    );
    assert.equal(bot.code, 0, bot.stderr);
    const heard = await alice.event('message', (e) => e.text === 'from the TLS side');
    assert.equal(heard.from, 'bot');

    const orphan = await runCli(
      t,
      ['serve', 'web', '--port', '0', '--chat-fingerprint', broker.fingerprint],
      { env },
    );
    assert.equal(orphan.code, 2);
    assert.match(orphan.stderr, /--chat-fingerprint and --chat-ca need --chat HOST:PORT/);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli, startCli } from '../helpers/proc.js';
import { requireTool } from '../helpers/tools.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const T = { timeout: 30_000 };
const execFileAsync = promisify(execFile);

/** `sockit serve time --port 0`: every listener on a free port, read from the `ready` line. */
async function serveTime(t: Parameters<typeof startCli>[0]): Promise<Record<string, string>> {
  const proc = startCli(t, ['serve', 'time', '--port', '0']);
  const ready = await proc.waitFor((r) => r.event === 'ready', 'the ready line');
  const services = ready.services as { name: string; addresses: string[] }[];
  const at: Record<string, string> = {};
  for (const a of services[0]?.addresses ?? []) {
    const [label, transport, address] = a.split(' ');
    at[`${label ?? ''} ${transport ?? ''}`] = address ?? '';
  }
  return at;
}

test(
  'sockit serve time runs every format; sockit time reads each within 2 s of the local clock',
  T,
  async (t) => {
    const at = await serveTime(t);
    assert.deepEqual(Object.keys(at).sort(), [
      'rfc868 tcp',
      'rfc868 udp',
      'sntp udp',
      'strftime udp',
      'unix32 udp',
    ]);
    for (const [mode, key, extra] of [
      ['sntp', 'sntp udp', []],
      ['rfc868', 'rfc868 tcp', []],
      ['rfc868', 'rfc868 udp', ['--udp']],
      ['unix32', 'unix32 udp', []],
    ] as const) {
      const r = await runCli(t, ['time', at[key] ?? '', '--mode', mode, ...extra, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as {
        type: string;
        mode: string;
        remoteMs: number;
        offsetMs: number;
        rttMs: number;
      };
      assert.equal(result.type, 'time');
      assert.equal(result.mode, mode);
      assert.ok(Math.abs(result.remoteMs - Date.now()) < 2000, `${mode}: ${r.stdout}`);
      assert.ok(Math.abs(result.offsetMs) < 1000, `${mode} offset ${result.offsetMs}`);
    }
    const human = await runCli(t, ['time', at['sntp udp'] ?? '']);
    assert.equal(human.code, 0);
    assert.match(
      human.stdout,
      /^\d{4}-\d\d-\d\dT\S+Z {2}offset [+-]\d+\.\d{3} ms {2}rtt \d+\.\d{3} ms {2}\(sntp, stratum 10 LOCL\)\n$/,
    );
    const text = await runCli(t, ['time', at['strftime udp'] ?? '', '--format', '%Y|%s']);
    const [year, seconds] = text.stdout.trim().split('|');
    assert.equal(Number(year), new Date().getFullYear());
    assert.ok(Math.abs(Number(seconds) * 1000 - Date.now()) < 2000);
  },
);

test('rdate -p -n talks to the SNTP port that sockit serve time opened', T, async (t) => {
  if (!requireTool(t, 'rdate')) return;
  const at = await serveTime(t);
  const port = (at['sntp udp'] ?? '').split(':').pop() ?? '';
  const { stdout } = await execFileAsync('rdate', ['-p', '-n', '-o', port, '127.0.0.1'], {
    timeout: 10_000,
  });
  assert.ok(
    Math.abs(Date.parse(stdout.trim().split('\t').pop() ?? '') - Date.now()) < 2000,
    stdout,
  );
});

test('sockit time: a server that does not answer is a TIMEOUT, exit 1, one line', T, async (t) => {
  const at = await serveTime(t);
  // The RFC 868 UDP port answers only 4-byte replies' requests; SNTP requests to it get a 4-byte reply the SNTP client ignores.
  const r = await runCli(t, [
    'time',
    at['rfc868 udp'] ?? '',
    '--mode',
    'sntp',
    '--timeout',
    '500ms',
  ]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^sockit: udp 127\.0\.0\.1:\d+: no reply after 4 attempts in 500 ms \(TIMEOUT\)\n$/,
  );
});

test('sockit time: bad mode is a usage error (exit 2)', T, async (t) => {
  const r = await runCli(t, ['time', '127.0.0.1', '--mode', 'ntp9']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^sockit: option '--mode <mode>' argument 'ntp9' is invalid/);
});

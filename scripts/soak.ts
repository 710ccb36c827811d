/**
 * LOAD-03-style mixed soak (docs/RELIABILITY.md), not run in CI:
 *
 *   npm run soak -- --minutes 10 [--warmup-minutes 2] [--sample-seconds 10]
 *
 * Starts `sockit serve` for echo, time, exec and chat (one child process each,
 * from the built CLI: SOCKIT_CLI or dist/), drives all four at once from this
 * process with the library clients, samples each server's RSS and fds every
 * `--sample-seconds`, and fails if any request fails or if, after the warm-up,
 * a server's RSS moves more than 10 % away from its first post-warm-up sample.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  ChatClient,
  EchoClient,
  ExecClient,
  parseAddress,
  queryTime,
  type Address,
} from '../src/index.js';
import { ServeProcess } from '../test/reliability/load-server.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'warmup-minutes': { type: 'string' },
    'sample-seconds': { type: 'string', default: '10' },
  },
});
const minutes = Number(values.minutes);
const warmupMinutes = Number(values['warmup-minutes'] ?? Math.min(2, minutes / 5));
const sampleMs = Number(values['sample-seconds']) * 1000;
if (!(minutes > 0) || !(warmupMinutes >= 0) || !(sampleMs > 0))
  throw new Error('bad --minutes / --warmup-minutes / --sample-seconds');

const TOKEN = 'soak-token-0123456789abcdef0123456789abcdef';
const home = mkdtempSync(join(tmpdir(), 'sockit-soak-'));
const env = {
  ...process.env,
  SOCKIT_TOKEN: TOKEN,
  HOME: home,
  XDG_CONFIG_HOME: join(home, '.config'),
};

function addressOf(ready: Record<string, unknown>, label: string): Address {
  const services = ready.services as { addresses: string[] }[];
  const line = services.flatMap((s) => s.addresses).find((a) => a.startsWith(label));
  if (line === undefined) throw new Error(`no "${label}" address in ${JSON.stringify(ready)}`);
  return parseAddress(line.slice(line.lastIndexOf(' ') + 1), { port: 0 });
}

const servers = {
  echo: new ServeProcess(['echo', '--port', '0', '--reply', 'echo'], env),
  time: new ServeProcess(['time', '--port', '0', '--sntp-port', '0'], env),
  exec: new ServeProcess(['exec', '--port', '0', '--allow', 'echo'], env),
  chat: new ServeProcess(['chat', '--port', '0'], env),
};
const ready = Object.fromEntries(
  await Promise.all(Object.entries(servers).map(async ([k, s]) => [k, await s.ready] as const)),
) as Record<keyof typeof servers, Record<string, unknown>>;

const echoAt = addressOf(ready.echo, 'tcp ');
const rfc868At = addressOf(ready.time, 'rfc868 tcp');
const unix32At = addressOf(ready.time, 'unix32 udp');
const execAt = addressOf(ready.exec, 'tcp ');
const chatAt = addressOf(ready.chat, 'tcp ');

interface Counter {
  ok: number;
  errors: number;
  lastError?: string;
}
const counts: Record<'echo' | 'time' | 'exec' | 'chat', Counter> = {
  echo: { ok: 0, errors: 0 },
  time: { ok: 0, errors: 0 },
  exec: { ok: 0, errors: 0 },
  chat: { ok: 0, errors: 0 },
};
const fail = (c: Counter, err: unknown): void => {
  c.errors++;
  c.lastError = err instanceof Error ? err.message : String(err);
};

const endAt = performance.now() + minutes * 60_000;
const running = (): boolean => performance.now() < endAt;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** 20 echo clients, 1 KiB requests back to back, each reply compared. */
async function echoLoop(i: number): Promise<void> {
  const client = await EchoClient.connect(echoAt);
  const payload = Buffer.alloc(1024, i);
  try {
    while (running()) {
      try {
        const reply = await client.request(payload);
        if (reply.equals(payload)) counts.echo.ok++;
        else fail(counts.echo, new Error('echo reply differs'));
      } catch (err) {
        fail(counts.echo, err);
        return;
      }
    }
  } finally {
    await client.close();
  }
}

/** RFC 868 over TCP and unix32 over UDP, alternately, 20 per second. */
async function timeLoop(): Promise<void> {
  for (let n = 0; running(); n++) {
    try {
      await queryTime(n % 2 === 0 ? rfc868At : unix32At, {
        mode: n % 2 === 0 ? 'rfc868' : 'unix32',
        ...(n % 2 === 1 ? { udp: true } : {}),
      });
      counts.time.ok++;
    } catch (err) {
      fail(counts.time, err);
    }
    await pause(50);
  }
}

const sink = (): Writable =>
  new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });

/** `echo soak` run over and over, a new authenticated connection every 20 runs. */
async function execLoop(): Promise<void> {
  while (running()) {
    let client: ExecClient | undefined;
    try {
      client = await ExecClient.connect(execAt, { token: TOKEN });
      for (let k = 0; k < 20 && running(); k++) {
        const exit = await client.run(
          { argv: ['echo', 'soak'] },
          { stdout: sink(), stderr: sink() },
        );
        if (exit.code === 0) counts.exec.ok++;
        else fail(counts.exec, new Error(`exit ${exit.code}`));
      }
    } catch (err) {
      fail(counts.exec, err);
      await pause(100);
    } finally {
      await client?.close();
    }
  }
}

/** 10 chat clients in one room, each saying something 10 times a second; every message is counted once per receiver. */
async function chatLoop(): Promise<void> {
  let received = 0;
  const clients = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      ChatClient.connect(chatAt, {
        onEvent: (e) => {
          if (e.type === 'message') received++;
          if (e.type === 'error') fail(counts.chat, new Error(`chat error ${e.code}`));
        },
        onClose: (err) => {
          if (err && running()) fail(counts.chat, err);
        },
      }).then(async (c) => {
        await c.join('soak', `soaker${i}`);
        return c;
      }),
    ),
  );
  let said = 0;
  while (running()) {
    for (const c of clients) c.say(`message ${said++}`, 'soak');
    await pause(100);
    counts.chat.ok = received;
  }
  await pause(500);
  counts.chat.ok = received;
  // Each message reaches every member of the room, the sender included or not: at least 9 receivers.
  if (received < said * 9)
    fail(counts.chat, new Error(`${said} said, only ${received} deliveries`));
  await Promise.all(clients.map((c) => c.close()));
}

interface Sample {
  atS: number;
  rss: Record<string, number>;
  fds: Record<string, number>;
}
const samples: Sample[] = [];
const started = performance.now();
function sample(): void {
  const rss: Record<string, number> = {};
  const fds: Record<string, number> = {};
  for (const [name, s] of Object.entries(servers)) {
    rss[name] = s.rssKiB();
    fds[name] = s.fds();
  }
  const atS = (performance.now() - started) / 1000;
  samples.push({ atS, rss, fds });
  const ops = Object.entries(counts)
    .map(([k, c]) => `${k} ${c.ok}${c.errors > 0 ? ` (${c.errors} errors: ${c.lastError})` : ''}`)
    .join(', ');
  const mem = Object.entries(rss)
    .map(([k, v]) => `${k} ${(v / 1024).toFixed(1)} MiB/${fds[k]} fds`)
    .join(', ');
  console.log(`[${atS.toFixed(0).padStart(4)} s] RSS ${mem} | ops ${ops}`);
}

console.log(
  `soak: ${minutes} min (warm-up ${warmupMinutes} min), sampling every ${sampleMs / 1000} s`,
);
sample();
const sampler = setInterval(sample, sampleMs);
const loops = [
  ...Array.from({ length: 20 }, (_, i) => echoLoop(i)),
  timeLoop(),
  execLoop(),
  execLoop(),
  chatLoop(),
];
const results = await Promise.allSettled(loops);
clearInterval(sampler);
sample();
for (const r of results) if (r.status === 'rejected') fail(counts.echo, r.reason);

await Promise.all(Object.values(servers).map((s) => s.stop()));
rmSync(home, { recursive: true, force: true });

// RSS stability: after the warm-up, the highest RSS of the last third of the
// samples may be at most 10 % above the highest of the first third (a drop is
// memory given back, not a leak).
const after = samples.filter((s) => s.atS >= warmupMinutes * 60);
let stable = true;
const verdicts: string[] = [];
for (const name of Object.keys(servers)) {
  const series = after.map((s) => s.rss[name] ?? NaN);
  const third = Math.max(1, Math.floor(series.length / 3));
  const early = Math.max(...series.slice(0, third));
  const late = Math.max(...series.slice(-third));
  const growth = (late - early) / early;
  const ok = series.length >= 3 && growth <= 0.1;
  stable &&= ok;
  verdicts.push(
    `${name}: RSS after warm-up ${(Math.min(...series) / 1024).toFixed(1)}–${(Math.max(...series) / 1024).toFixed(1)} MiB over ${series.length} samples; ` +
      `peak of last third vs first third ${(early / 1024).toFixed(1)} → ${(late / 1024).toFixed(1)} MiB (${(growth * 100).toFixed(1)} %): ${ok ? 'stable' : 'NOT STABLE'}`,
  );
}
const errors = Object.values(counts).reduce((n, c) => n + c.errors, 0);
const serverErrors = Object.entries(servers).flatMap(([k, s]) =>
  s.errors
    .filter((r) => r.code !== 'CONNECTION_RESET')
    .map((r) => `${k}: ${String(r.code ?? r.event)}`),
);
console.log(`\nsoak summary (${minutes} min):`);
for (const [k, c] of Object.entries(counts))
  console.log(
    `  ${k}: ${c.ok} ok, ${c.errors} errors${c.lastError ? ` (last: ${c.lastError})` : ''}`,
  );
for (const v of verdicts) console.log(`  ${v}`);
console.log(
  `  server-side error records: ${serverErrors.length}${serverErrors.length > 0 ? ` (${serverErrors.slice(0, 5).join(', ')})` : ''}`,
);
if (!stable || errors > 0 || serverErrors.length > 0) {
  console.log('soak: FAILED');
  process.exitCode = 1;
} else console.log('soak: passed');

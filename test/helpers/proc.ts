import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/**
 * The built CLI (`npm test` builds dist/ first). SOCKIT_CLI points elsewhere,
 * e.g. at a build in `.build-NAME/` made while someone else edits the tree.
 */
export const CLI =
  process.env.SOCKIT_CLI ?? fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout as UTF-8 text. */
  stdout: string;
  /** stdout as bytes, for binary peers. */
  stdoutBytes: Buffer;
  stderr: string;
}

/** Resolves when the child has exited and its pipes are closed. */
export async function finished(child: ChildProcessWithoutNullStreams): Promise<RunResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  const stdoutBytes = Buffer.concat(out);
  return {
    code,
    signal,
    stdout: stdoutBytes.toString(),
    stdoutBytes,
    stderr: Buffer.concat(err).toString(),
  };
}

/**
 * Runs a program to completion, writing `input` (then EOF) to its stdin. The
 * child is killed in teardown if the test ends first.
 */
export function run(
  t: TestContext,
  command: string,
  args: readonly string[],
  options: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  const child = spawn(command, args, { env: options.env ?? process.env, stdio: 'pipe' });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const result = finished(child);
  child.stdin.on('error', () => undefined); // the child may exit without reading
  child.stdin.end(options.input ?? '');
  return result;
}

/** `node dist/cli/main.js ARGS`. */
export function runCli(
  t: TestContext,
  args: readonly string[],
  options: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return run(t, process.execPath, [CLI, ...args], options);
}

/** A long-running child whose stdout is JSON lines (the `sockit serve` log). */
export class LogProcess {
  readonly records: Record<string, unknown>[] = [];
  readonly result: Promise<RunResult>;
  private readonly waiters: {
    match: (r: Record<string, unknown>) => boolean;
    resolve: (r: Record<string, unknown>) => void;
  }[] = [];
  private partial = '';
  private exited = false;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    this.result = finished(child);
    const utf8 = new StringDecoder('utf8');
    child.stdout.on('data', (b: Buffer) => {
      this.partial += utf8.write(b);
      let nl: number;
      while ((nl = this.partial.indexOf('\n')) !== -1) {
        const line = this.partial.slice(0, nl);
        this.partial = this.partial.slice(nl + 1);
        if (line.trim() === '') continue;
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          record = { unparsed: line }; // a test asserting on the log will notice
        }
        this.records.push(record);
        for (const w of this.waiters.splice(0)) {
          if (w.match(record)) w.resolve(record);
          else this.waiters.push(w);
        }
      }
    });
    void this.result.then(() => {
      this.exited = true;
    });
  }

  get running(): boolean {
    return !this.exited && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The first log record matching, or a rejection if the process exits first. */
  waitFor(
    match: (r: Record<string, unknown>) => boolean,
    what = 'a log line',
  ): Promise<Record<string, unknown>> {
    const seen = this.records.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      this.waiters.push({ match, resolve });
      void this.result.then((r) => {
        reject(
          new Error(
            `process exited (code ${r.code}, signal ${r.signal}) before ${what}; stderr: ${r.stderr}`,
          ),
        );
      });
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }
}

/** Starts `node dist/cli/main.js ARGS` in the background; SIGKILLed in teardown if still running. */
export function startCli(
  t: TestContext,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): LogProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: 'pipe',
    env: options.env ?? process.env,
  });
  const proc = new LogProcess(child);
  t.after(() => {
    proc.kill('SIGKILL');
  });
  return proc;
}

/** Address strings from the `ready` record: `{ tcp: '127.0.0.1:41135', udp: '127.0.0.1:44342' }`. */
export function readyAddresses(ready: Record<string, unknown>): { tcp?: string; udp?: string } {
  const services = ready.services as { name: string; addresses: string[] }[];
  const out: { tcp?: string; udp?: string } = {};
  for (const a of services[0]?.addresses ?? []) {
    if (a.startsWith('tcp ')) out.tcp = a.slice(4);
    if (a.startsWith('udp ')) out.udp = a.slice(4);
  }
  return out;
}

/** Starts `sockit serve ARGS` and waits for its `ready` line. */
export async function startServe(
  t: TestContext,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<{ proc: LogProcess; tcp: string; udp: string | undefined }> {
  const proc = startCli(t, ['serve', ...args], options);
  const ready = await proc.waitFor((r) => r.event === 'ready', 'the ready line');
  const { tcp, udp } = readyAddresses(ready);
  if (tcp === undefined) throw new Error(`no tcp address in ${JSON.stringify(ready)}`);
  return { proc, tcp, udp };
}

/**
 * Leaves a Unix socket file with nobody behind it, the way a SIGKILLed server
 * does: a child process listens on `path`, says so, and is killed with SIGKILL.
 */
export async function leaveStaleUnixSocket(path: string): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      'require("node:net").createServer().listen(process.argv[1], () => process.stdout.write("ready\\n"))',
      path,
    ],
    { stdio: 'pipe' },
  );
  const result = finished(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) resolve();
    });
    void result.then((r) => {
      reject(new Error(`listener exited early: ${r.stderr}`));
    });
  });
  child.kill('SIGKILL');
  const { signal } = await result;
  if (signal !== 'SIGKILL') throw new Error(`expected SIGKILL, got ${String(signal)}`);
}

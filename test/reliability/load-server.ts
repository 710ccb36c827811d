/**
 * A `sockit serve` child for load tests and the soak script: started from the
 * built CLI (SOCKIT_CLI or dist/), its stdout log read line by line without
 * keeping it (50 000 connections log 100 000 lines), counting connections and
 * keeping only the records that carry an error code. Its fds and RSS are read
 * from /proc.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { CLI, readyAddresses } from '../helpers/proc.js';

export class ServeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  connects = 0;
  closes = 0;
  /** Log records with a `code` (a connection closed by an error, a refusal) or at level ≥ warn. */
  readonly errors: Record<string, unknown>[] = [];
  ready: Promise<Record<string, unknown>>;
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  private stderr = '';

  constructor(args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: 'pipe', env });
    this.exited = once(this.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    this.child.stderr.on('data', (b: Buffer) => {
      if (this.stderr.length < 10_000) this.stderr += b.toString();
    });
    let resolveReady: (r: Record<string, unknown>) => void = () => undefined;
    let rejectReady: (e: Error) => void = () => undefined;
    this.ready = new Promise((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    void this.exited.then(([code, signal]) => {
      rejectReady(new Error(`serve exited (${code ?? signal}) before ready: ${this.stderr}`));
    });
    const utf8 = new StringDecoder('utf8');
    let partial = '';
    this.child.stdout.on('data', (b: Buffer) => {
      partial += utf8.write(b);
      let nl: number;
      let start = 0;
      while ((nl = partial.indexOf('\n', start)) !== -1) {
        const line = partial.slice(start, nl);
        start = nl + 1;
        if (line.includes('"event":"connect"')) this.connects++;
        else if (line.includes('"event":"close"')) {
          this.closes++;
          if (line.includes('"code"'))
            this.errors.push(JSON.parse(line) as Record<string, unknown>);
        } else if (line.includes('"event":"ready"'))
          resolveReady(JSON.parse(line) as Record<string, unknown>);
        else if (/"level":(4|5|6)\d/.test(line))
          this.errors.push(JSON.parse(line) as Record<string, unknown>);
      }
      partial = partial.slice(start);
    });
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error('serve did not start');
    return pid;
  }

  /** The TCP port of the first service. */
  async port(): Promise<number> {
    const tcp = readyAddresses(await this.ready).tcp;
    if (tcp === undefined) throw new Error('no tcp address in the ready line');
    return Number(tcp.slice(tcp.lastIndexOf(':') + 1));
  }

  /** Open file descriptors of the server process. */
  fds(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  /** Resident set size of the server process (KiB). */
  rssKiB(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return Number(m?.[1] ?? NaN);
  }

  /** SIGTERM (graceful), SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The soft limit on open files of this process (/proc/self/limits). */
export function openFileLimit(): number {
  const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m?.[1] === 'unlimited' ? Infinity : Number(m?.[1] ?? 0);
}

/**
 * Waits until `read()` is at most `target`, checking every 50 ms up to
 * `timeoutMs` (another process's fd count has no event to wait for).
 */
export async function settle(
  read: () => number,
  target: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let value = read();
  while (value > target && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = read();
  }
  return value;
}

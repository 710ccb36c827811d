import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SockitError } from '../../../src/index.js';

export interface CanaryReport {
  name: string;
  ok: number;
  failures: string[];
  maxMs: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * A client served throughout a fault or an attack: it runs `probe` in a loop
 * (every `intervalMs`, one at a time), and every probe must succeed within
 * `deadlineMs`. `stop()` ends the loop and reports; `assertHealthy` fails the
 * test on any failure or a probe slower than the deadline.
 */
export class Canary {
  private readonly latencies: number[] = [];
  private readonly failures: string[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly probe: () => Promise<void>,
    private readonly intervalMs: number,
    readonly deadlineMs: number,
  ) {
    this.loop = this.run();
  }

  /** Starts the loop after one successful probe (so a canary never starts broken). */
  static async start(
    t: TestContext,
    name: string,
    probe: () => Promise<void>,
    options: { intervalMs?: number; deadlineMs?: number } = {},
  ): Promise<Canary> {
    await probe();
    const canary = new Canary(name, probe, options.intervalMs ?? 50, options.deadlineMs ?? 1_000);
    t.after(() => canary.stop());
    return canary;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          this.probe(),
          new Promise((_, reject) => {
            timer = setTimeout(() => {
              reject(new Error(`no answer within ${this.deadlineMs} ms`));
            }, this.deadlineMs);
          }),
        ]);
        this.latencies.push(performance.now() - started);
      } catch (err) {
        this.failures.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      } finally {
        clearTimeout(timer);
      }
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() flips it meanwhile
      if (this.running) await sleep(this.intervalMs);
    }
  }

  async stop(): Promise<CanaryReport> {
    this.running = false;
    await this.loop;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number): number =>
      sorted.length === 0
        ? 0
        : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
    return {
      name: this.name,
      ok: sorted.length,
      failures: [...this.failures],
      maxMs: Math.round(sorted.at(-1) ?? 0),
      p50Ms: Math.round(at(0.5)),
      p99Ms: Math.round(at(0.99)),
    };
  }

  /** Stops, asserts no failure, at least `minOk` probes and max latency under the deadline; logs the figures. */
  async assertHealthy(minOk = 3): Promise<CanaryReport> {
    // Probes made after the fault, not just before it.
    const until = performance.now() + minOk * (this.intervalMs + this.deadlineMs);
    while (this.latencies.length + this.failures.length < minOk && performance.now() < until)
      await sleep(this.intervalMs);
    const report = await this.stop();
    assert.deepEqual(report.failures, [], `canary ${this.name} failed`);
    assert.ok(report.ok >= minOk, `canary ${this.name} ran only ${report.ok} probes`);
    assert.ok(report.maxMs < this.deadlineMs, `canary ${this.name} max ${report.maxMs} ms`);
    figure(`canary ${this.name}`, {
      probes: report.ok,
      p50Ms: report.p50Ms,
      p99Ms: report.p99Ms,
      maxMs: report.maxMs,
    });
    return report;
  }
}

/** One figure for docs/RELIABILITY.md, printed as a `# figure` diagnostic line in the test output. */
export function figure(what: string, values: Record<string, number | string>): void {
  const text = Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  process.stdout.write(`# figure ${what}: ${text}\n`);
}

/** Heap + array buffers of this process after a GC when --expose-gc is on (bytes). */
export function heapBytes(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Measures how much this process's heap + array buffers grew during `during` (bytes, after GC). */
export class MemoryProbe {
  private readonly base = heapBytes();
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(sampleMs = 20) {
    // Peak without GC: what the process really held at some moment.
    this.timer = setInterval(() => {
      const m = process.memoryUsage();
      this.peak = Math.max(this.peak, m.heapUsed + m.arrayBuffers - this.base);
    }, sampleMs);
  }

  /** Growth after GC, and the largest sampled growth, in bytes. */
  stop(): { growth: number; peak: number } {
    clearInterval(this.timer);
    return { growth: heapBytes() - this.base, peak: this.peak };
  }
}

/** VmRSS of another process, from /proc (bytes). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

export const MiB = 1024 * 1024;

/** Time from now until `promise` settles (ms), and its value. */
export async function timed<T>(promise: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await promise;
  return { value, ms: Math.round(performance.now() - started) };
}

/**
 * Rejects a promise that does not settle within `ms`: no fault may make a
 * client hang. The error names `what`.
 */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`${what}: still pending after ${ms} ms (a hang)`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The outcome of a promise: `ok`, or the code of the SockitError it failed with (anything untyped is rethrown). */
export async function outcomeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    if (err instanceof SockitError) return err.code;
    throw err;
  }
}

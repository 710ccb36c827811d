/**
 * The bounded mutational fuzz loop and its oracle (docs/RELIABILITY.md).
 *
 * Oracle: for every input a target returns an outcome or throws a SockitError
 * with a known code (targets.ts turns those into outcomes), within
 * `timeBoundMs`, without asking Buffer for more than `allocBound(input)` bytes
 * at once. Anything else — TypeError, RangeError, a non-Error, a broken
 * invariant, a slow input, an allocation sized from a peer's claim — is a crash.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, mutateBytes, mutateJson } from './mutate.js';
import { InvariantError, type Target } from './targets.js';

export const CORPUS_ROOT = fileURLToPath(new URL('../corpus/', import.meta.url));

/**
 * Per-input time bound (ms): 50 ms, plus 10 µs per input byte for the stream
 * targets that run every line or frame three times (a 16 KiB input of 2 000
 * short lines may take 150 ms; a quadratic or catastrophic-regex path takes
 * seconds). Measured after the fact; a slow input is re-run before it counts.
 */
export const TIME_BOUND_MS = 50;
export const TIME_PER_BYTE_MS = 0.01;

export function timeBound(input: Buffer): number {
  return TIME_BOUND_MS + input.length * TIME_PER_BYTE_MS;
}

/** Largest single Buffer allocation an input may cause: 64 KiB, or 4× the input. */
export function allocBound(input: Buffer): number {
  return Math.max(128 * 1024, 4 * input.length);
}

export type Verdict =
  | { ok: true; outcome: string; ms: number }
  | { ok: false; reason: string; detail: string; ms: number };

/** Watches Buffer's allocators while a target runs: the largest size asked for. */
const allocWatch = { max: 0, active: false };
{
  const B = Buffer as unknown as Record<
    'alloc' | 'allocUnsafe' | 'allocUnsafeSlow',
    (size: number, ...rest: unknown[]) => Buffer
  >;
  for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
    const original = B[name].bind(Buffer);
    B[name] = (size: number, ...rest: unknown[]): Buffer => {
      if (allocWatch.active && size > allocWatch.max) allocWatch.max = size;
      return original(size, ...rest);
    };
  }
}

/** A short, file-name-safe name for why an input crashed. */
export function crashReason(err: unknown): string {
  if (err instanceof InvariantError) return err.reason;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const name = err.constructor.name || err.name;
    return `${name}${typeof code === 'string' ? `-${code}` : ''}`
      .replace(/[^A-Za-z0-9_-]/g, '_')
      .slice(0, 60);
  }
  return 'non-error-thrown';
}

function once(target: Target, input: Buffer): Verdict {
  allocWatch.max = 0;
  allocWatch.active = true;
  const started = performance.now();
  let verdict: Verdict;
  try {
    const outcome = target.run(input);
    verdict = { ok: true, outcome, ms: 0 };
  } catch (err) {
    verdict = {
      ok: false,
      reason: crashReason(err),
      detail: err instanceof Error ? (err.stack ?? err.message) : String(err),
      ms: 0,
    };
  } finally {
    allocWatch.active = false;
  }
  verdict.ms = performance.now() - started;
  if (verdict.ok && allocWatch.max > allocBound(input)) {
    return {
      ok: false,
      reason: 'alloc-bomb',
      detail: `a ${input.length}-byte input made a ${allocWatch.max}-byte allocation`,
      ms: verdict.ms,
    };
  }
  return verdict;
}

/** Runs one input through the oracle. A slow input is retried twice (GC, a busy machine) before it counts. */
export function execute(target: Target, input: Buffer): Verdict {
  const bound = timeBound(input);
  let verdict = once(target, input);
  for (let retry = 0; verdict.ok && verdict.ms > bound && retry < 2; retry++) {
    const again = once(target, input);
    if (!again.ok || again.ms < verdict.ms) verdict = again;
  }
  if (verdict.ok && verdict.ms > bound) {
    return {
      ok: false,
      reason: 'slow',
      detail: `${verdict.ms.toFixed(1)} ms > ${bound.toFixed(0)} ms for ${input.length} bytes`,
      ms: verdict.ms,
    };
  }
  return verdict;
}

// ---------------------------------------------------------------------------
// Corpus on disk: test/corpus/<target>/*.bin (seeds), regressions/*.bin (past
// crashes, replayed), pending/*.bin (crashes not fixed yet: listed, skipped).

export interface CorpusFile {
  path: string;
  name: string;
  bytes: Buffer;
}

function readBins(dir: string): CorpusFile[] {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.bin'))
      .sort();
  } catch {
    return [];
  }
  return names.map((name) => ({
    path: join(dir, name),
    name,
    bytes: readFileSync(join(dir, name)),
  }));
}

export function loadCorpus(target: Target): {
  seeds: CorpusFile[];
  regressions: CorpusFile[];
  pending: CorpusFile[];
} {
  const dir = join(CORPUS_ROOT, target.name);
  return {
    seeds: readBins(dir),
    regressions: readBins(join(dir, 'regressions')),
    pending: readBins(join(dir, 'pending')),
  };
}

/** The reason a pending file was filed under: `<hash>-<reason>.bin`. */
export function reasonOfFile(name: string): string {
  return name.replace(/\.bin$/, '').replace(/^[0-9a-f]+-/, '');
}

export function shortHash(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex').slice(0, 10);
}

/** Writes a crash as test/corpus/<target>/<folder>/<hash>-<reason>.bin and returns the path. */
export function saveCrash(
  target: Target,
  input: Buffer,
  reason: string,
  folder = 'regressions',
): string {
  const dir = join(CORPUS_ROOT, target.name, folder);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${shortHash(input)}-${reason}.bin`);
  writeFileSync(path, input);
  return path;
}

/**
 * Shrinks a crashing input while it still crashes for the same reason:
 * deletes ever smaller blocks, then zeroes bytes. Bounded by `budget` executions.
 */
export function minimise(
  target: Target,
  input: Buffer,
  reason: string,
  options: { budget?: number; maxMs?: number; beforeExec?: (input: Buffer) => void } = {},
): Buffer {
  const budget = options.budget ?? 3000;
  const deadline = performance.now() + (options.maxMs ?? 10_000);
  let best = input;
  let runs = 0;
  const stillCrashes = (candidate: Buffer): boolean => {
    runs++;
    if (performance.now() > deadline) runs = budget; // out of time: stop after this one
    options.beforeExec?.(candidate);
    const v = execute(target, candidate);
    return !v.ok && v.reason === reason;
  };
  for (let block = Math.max(1, best.length >> 1); block >= 1 && runs < budget; block >>= 1) {
    for (let at = 0; at < best.length && runs < budget;) {
      const candidate = Buffer.concat([best.subarray(0, at), best.subarray(at + block)]);
      if (stillCrashes(candidate)) best = candidate;
      else at += block;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------
// The loop

export interface Crash {
  reason: string;
  input: Buffer;
  detail: string;
  /** Whether a pending file already names this reason (a known, unfixed bug). */
  known: boolean;
}

export interface FuzzResult {
  target: string;
  execs: number;
  seconds: number;
  execsPerSecond: number;
  /** Distinct outcomes seen (a rough measure of what was reached). */
  outcomes: number;
  /** Inputs kept in the in-memory working corpus (seeds + new outcomes). */
  working: number;
  crashes: Crash[];
}

export interface FuzzOptions {
  seed: number;
  durationMs: number;
  /** Reasons of pending files: crashes for them are counted as known, not new. */
  knownReasons?: ReadonlySet<string>;
  /** Stop after this many new (unknown) crashes. */
  maxCrashes?: number;
  /** Called before each execution (the hang watchdog in scripts/fuzz.ts uses it). */
  beforeExec?: (input: Buffer) => void;
}

const MAX_WORKING = 2000;

/**
 * Mutates inputs drawn from `seeds` (and from inputs that produced an outcome
 * not seen before) for `durationMs`, checking each against the oracle.
 */
export function fuzz(target: Target, seeds: readonly Buffer[], options: FuzzOptions): FuzzResult {
  const rng = new Rng(options.seed);
  const working: Buffer[] = seeds.length > 0 ? [...seeds] : [Buffer.alloc(0)];
  const seen = new Set<string>();
  const crashes: Crash[] = [];
  const crashReasons = new Set<string>();
  const known = options.knownReasons ?? new Set<string>();
  const deadline = performance.now() + options.durationMs;
  const started = performance.now();
  let execs = 0;
  while (performance.now() < deadline) {
    for (let batch = 0; batch < 32; batch++) {
      let input = rng.pick(working);
      const rounds = 1 + rng.below(4);
      for (let r = 0; r < rounds; r++) {
        const text = target.json && rng.chance(3) ? target.json.extract(input) : undefined;
        const mutated = text !== undefined ? mutateJson(text, rng) : undefined;
        input =
          mutated !== undefined && target.json
            ? target.json.wrap(mutated).subarray(0, target.maxInput)
            : mutateBytes(input, rng, rng.pick(working), target.maxInput);
      }
      options.beforeExec?.(input);
      const verdict = execute(target, input);
      execs++;
      if (verdict.ok) {
        const key = verdict.outcome.length > 160 ? verdict.outcome.slice(0, 160) : verdict.outcome;
        if (!seen.has(key)) {
          if (seen.size < 50_000) seen.add(key);
          if (working.length < MAX_WORKING) working.push(input);
          else working[rng.below(MAX_WORKING)] = input;
        }
        continue;
      }
      if (crashReasons.has(verdict.reason)) continue;
      crashReasons.add(verdict.reason);
      crashes.push({
        reason: verdict.reason,
        input,
        detail: verdict.detail,
        known: known.has(verdict.reason),
      });
      const fresh = crashes.filter((c) => !c.known).length;
      if (options.maxCrashes !== undefined && fresh >= options.maxCrashes) break;
    }
    if (
      options.maxCrashes !== undefined &&
      crashes.filter((c) => !c.known).length >= options.maxCrashes
    )
      break;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    target: target.name,
    execs,
    seconds,
    execsPerSecond: execs / seconds,
    outcomes: seen.size,
    working: working.length,
    crashes,
  };
}

/**
 * Every CI run: replays the whole fuzz corpus (seeds and regressions) of every
 * parser through the oracle, then fuzzes each parser briefly with a fixed seed
 * (FUZZ_SEED, default 1; FUZZ_MS per parser, default 2 s in all). Files in
 * test/corpus/<parser>/pending/ are crashes not fixed yet: they are skipped
 * and listed, and a crash for the same reason is reported, not failed.
 * Longer runs: `npm run fuzz -- --seconds 60`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execute, fuzz, loadCorpus, reasonOfFile } from './engine.js';
import { TARGETS } from './targets.js';

const SEED = Number(process.env.FUZZ_SEED ?? 1);
const PER_TARGET_MS = Number(process.env.FUZZ_MS ?? Math.floor(2000 / TARGETS.length));

describe('fuzz corpus replay and a short fuzz run', () => {
  for (const target of TARGETS) {
    it(`${target.name}: corpus replays, ${PER_TARGET_MS} ms of fuzzing finds no new crash`, (t) => {
      const corpus = loadCorpus(target);
      assert.ok(corpus.seeds.length > 0, `no seeds in test/corpus/${target.name}/`);
      const known = new Set(corpus.pending.map((f) => reasonOfFile(f.name)));
      if (corpus.pending.length > 0) {
        t.diagnostic(
          `PENDING (known crash, not fixed yet, skipped): ${corpus.pending.map((f) => `${target.name}/pending/${f.name}`).join(', ')}`,
        );
        console.log(
          `fuzz replay: ${target.name}: SKIPPED pending ${corpus.pending.map((f) => f.name).join(', ')}`,
        );
      }
      const failures: string[] = [];
      const knownHits: string[] = [];
      for (const file of [...corpus.seeds, ...corpus.regressions]) {
        const v = execute(target, file.bytes);
        if (v.ok) continue;
        if (known.has(v.reason)) knownHits.push(`${file.name} (${v.reason})`);
        else failures.push(`${file.name}: ${v.reason}: ${v.detail.split('\n')[0] ?? ''}`);
      }
      assert.deepEqual(failures, [], `corpus inputs that crash ${target.name}`);

      const result = fuzz(
        target,
        [...corpus.seeds, ...corpus.regressions].map((f) => f.bytes),
        { seed: SEED, durationMs: PER_TARGET_MS, knownReasons: known, maxCrashes: 1 },
      );
      for (const c of result.crashes.filter((c) => c.known))
        knownHits.push(`fuzzed input (${c.reason})`);
      if (knownHits.length > 0) {
        t.diagnostic(`known pending crash reproduced: ${knownHits.join(', ')}`);
      }
      t.diagnostic(
        `${target.name}: ${corpus.seeds.length} seeds + ${corpus.regressions.length} regressions replayed; ` +
          `${result.execs} fuzzed inputs (${result.execsPerSecond.toFixed(0)}/s), ${result.outcomes} outcomes`,
      );
      const fresh = result.crashes.filter((c) => !c.known);
      assert.deepEqual(
        fresh.map(
          (c) =>
            `${c.reason}: input ${c.input.toString('hex').slice(0, 200)}: ${c.detail.split('\n')[0] ?? ''}`,
        ),
        [],
        `new crash in ${target.name}; reproduce with npm run fuzz -- --parser ${target.name} --seed ${SEED}`,
      );
      assert.ok(result.execs > 0);
    });
  }
});

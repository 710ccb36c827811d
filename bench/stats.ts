/** Kept for bench/files.bench.ts until it imports bench/harness/stats.ts itself. */
export * from './harness/stats.js';

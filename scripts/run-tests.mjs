#!/usr/bin/env node
// Runs every test file under test/ with Node's test runner (Node 20's --test
// takes no globs, so the files are listed here). Unhandled rejections are fatal.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return find(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = find('test')
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    // Fails a test file that leaves sockets, servers, timers or children open (LEAK_CHECK=report|off).
    '--import',
    './test/helpers/leak-check.ts',
    // A leaked handle must fail its file, not hang the run.
    '--test-force-exit',
    '--unhandled-rejections=strict',
    '--expose-gc',
    '--test',
    '--test-timeout=60000',
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);

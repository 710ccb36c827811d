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
function runFiles(list, env = process.env) {
  return (
    spawnSync(
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
        ...list,
      ],
      { stdio: 'inherit', env },
    ).status ?? 1
  );
}

let status = runFiles(files);
// The chat tests again with every server on a Redis bus of its own (issue
// #14: one node with --cluster behaves as one without). Full runs only.
const chatFiles = files.filter(
  (f) =>
    (f.startsWith(join('test', 'services', 'chat')) && !f.endsWith('redis-bus.test.ts')) ||
    f.endsWith('faults-chat.test.ts') ||
    f.endsWith('python-chat.test.ts'),
);
if (status === 0 && filters.length === 0) {
  console.log(`# second pass: ${chatFiles.length} chat test files on the Redis bus`);
  status = runFiles(chatFiles, { ...process.env, SOCKIT_TEST_CHAT_BUS: 'redis' });
}
process.exit(status);

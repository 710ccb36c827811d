import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { tempDir } from './helpers/echo.js';
import { CLI, run } from './helpers/proc.js';

/**
 * V8 starts incremental marking only once the old generation passes 8 MB.
 * Just above that line, 64 KiB echo traffic turned every scavenge into a
 * mark-compact and halved throughput (docs/PERFORMANCE.md, "64 KiB frames").
 * These budgets keep what a process loads for sockit under it. They are
 * measured on the machine's Node 20 (the CI's); another V8 moves them.
 */
// The library imports no logging package (src/log.ts): 6.7 MB measured, 7.35 with pino.
const LIBRARY_BUDGET_MB = 7.0;
// serve loads only the services it runs (src/cli/commands/serve.ts): 6.8 MB measured for echo.
const SERVE_BUDGET_MB = 7.4;

const DIST = join(dirname(CLI), '..');

/** Coverage (NODE_V8_COVERAGE, c8) instruments every function and adds ~1 MB: not what users run. */
const UNDER_COVERAGE = process.env.NODE_V8_COVERAGE
  ? 'coverage instrumentation enlarges the heap'
  : false;

/** Prints the heap after two full collections, on SIGUSR2 (a preload for the CLI). */
const PROBE = `process.on('SIGUSR2', () => { gc(); gc(); process.stderr.write('heap ' + process.memoryUsage().heapUsed + '\\n'); });`;

describe('what loading sockit costs in heap', () => {
  it(
    `import 'sockit' leaves under ${LIBRARY_BUDGET_MB} MB of heap`,
    { skip: UNDER_COVERAGE },
    async (t) => {
      const url = pathToFileURL(join(DIST, 'index.js')).href;
      const script = `await import(${JSON.stringify(url)}); gc(); gc(); console.log(process.memoryUsage().heapUsed);`;
      const result = await run(t, process.execPath, [
        '--expose-gc',
        '--input-type=module',
        '-e',
        script,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const mb = Number(result.stdout) / 1e6;
      assert.ok(mb < LIBRARY_BUDGET_MB, `heap after import: ${mb.toFixed(2)} MB`);
    },
  );

  it(
    `a running \`sockit serve echo\` holds under ${SERVE_BUDGET_MB} MB of heap`,
    { skip: UNDER_COVERAGE },
    async (t) => {
      const home = await tempDir(t);
      const probe = join(home, 'probe.mjs');
      await writeFile(probe, PROBE);
      const child = spawn(
        process.execPath,
        ['--expose-gc', '--import', pathToFileURL(probe).href, CLI, 'serve', 'echo', '--port', '0'],
        {
          env: {
            ...process.env,
            XDG_CONFIG_HOME: join(home, 'config'),
            XDG_DATA_HOME: join(home, 'data'),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      t.after(() => child.kill('SIGKILL'));
      const closed = once(child, 'close');
      for await (const line of createInterface({ input: child.stdout })) {
        if (line.includes('"ready"')) break;
      }
      child.stdout.resume();
      const heapLine = (async (): Promise<string> => {
        for await (const line of createInterface({ input: child.stderr })) {
          if (line.startsWith('heap ')) return line;
        }
        return '';
      })();
      child.kill('SIGUSR2');
      const mb = Number((await heapLine).slice(5)) / 1e6;
      child.kill('SIGTERM');
      await closed;
      assert.ok(mb < SERVE_BUDGET_MB, `heap of a running serve echo: ${mb.toFixed(2)} MB`);
    },
  );
});

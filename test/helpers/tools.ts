import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

const found = new Map<string, boolean>();

/** Whether an executable is on PATH. */
export function hasTool(name: string): boolean {
  let ok = found.get(name);
  if (ok === undefined) {
    ok = spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
    found.set(name, ok);
  }
  return ok;
}

/**
 * Real peers are part of the contract. On a laptop without the tool the test
 * skips loudly (and says what to install); under CI=true it fails.
 */
export function requireTool(t: TestContext, name: string, debianPackage = name): boolean {
  if (hasTool(name)) return true;
  const why = `${name} is not installed (apt-get install ${debianPackage})`;
  if (process.env.CI === 'true') throw new Error(`${why}; CI must install it in .ci/run`);
  process.stderr.write(`\n*** SKIPPED: ${t.name}: ${why} ***\n\n`);
  t.skip(why);
  return false;
}

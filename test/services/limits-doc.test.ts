import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../src/index.js';

// docs/LIMITS.md is where an operator looks up a bound; src/limits.ts says a
// service's own bounds live in its limits.ts. This keeps the two in step.
const root = fileURLToPath(new URL('../../', import.meta.url));
const doc = await readFile(`${root}docs/LIMITS.md`, 'utf8');
const services = (await readdir(`${root}src/services`, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);
const withLimits: string[] = [];
for (const name of services) {
  const files = await readdir(`${root}src/services/${name}`);
  if (files.includes('limits.ts')) withLimits.push(name);
}

/** The `Constants:` lines: the names the doc says it covers. */
const documentedConstants = new Set(
  [...doc.matchAll(/^Constants: (.*)$/gm)].flatMap((m) =>
    [...(m[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((c) => c[1] ?? ''),
  ),
);

describe('docs/LIMITS.md names every bound a service defines', () => {
  it('finds the services with a limits.ts', () => {
    assert.ok(withLimits.length >= 5, withLimits.join(','));
  });
  for (const name of withLimits) {
    it(`src/services/${name}/limits.ts: a section, and each constant listed`, async () => {
      assert.match(doc, new RegExp(`^## .*\`src/services/${name}/limits\\.ts\``, 'm'));
      const module = (await import(`../../src/services/${name}/limits.ts`)) as Record<
        string,
        unknown
      >;
      const missing = Object.keys(module).filter((c) => !documentedConstants.has(c));
      assert.deepEqual(missing, [], `not in a Constants: line of docs/LIMITS.md`);
    });
  }

  it('every error code it quotes is a real one (ERRORS.md lists them)', async () => {
    const quoted = [...doc.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)`/g)].map((m) => m[1] ?? '');
    const shared = Object.keys(await import('../../src/limits.js'));
    // Words in capitals that are not ours: an environment variable, the SNTP
    // kiss code, an errno, a Redis command.
    const foreign = ['LD_PRELOAD', 'RATE', 'EMSGSIZE', 'XREAD'];
    const known = new Set<string>([...ERROR_CODES, ...documentedConstants, ...shared, ...foreign]);
    const unknown = quoted.filter((q) => !known.has(q));
    assert.deepEqual([...new Set(unknown)], []);
  });
});

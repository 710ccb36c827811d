// docs/CLI.md stays true to the CLI: every long flag a command's --help
// prints is documented in that command's section, and every flag a section
// documents exists (as ERRORS.md is kept true against src/errors.ts). The
// TLS flags every TCP command shares are documented once, in their own section.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it, type TestContext } from 'node:test';
import { runCli } from '../helpers/proc.js';

/** Each section of CLI.md (by its heading) and the commands it documents. */
const SECTIONS: Record<string, string[]> = {
  '`sockit serve': ['serve'],
  '`sockit exec': ['exec'],
  '`sockit put': ['put', 'get', 'ls'],
  '`sockit echo': ['echo'],
  '`sockit time': ['time'],
  '`sockit connect': ['connect', 'listen'],
  '`sockit chat': ['chat'],
  '`sockit msg': ['msg'],
};
const SHARED = 'TLS: the same flags';

/** `--flag` names in a text; `--no-udp` and `--udp` are one flag to a reader. */
function longFlags(text: string): Set<string> {
  return new Set([...text.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
}

async function helpFlags(t: TestContext, command: string): Promise<Set<string>> {
  const result = await runCli(t, [command, '--help']);
  assert.equal(result.code, 0, result.stderr);
  // Only the flags an option line defines (`  -n, --no-stdin  …`), not those its text mentions.
  const defined = [...result.stdout.matchAll(/^ {2}(?:-\w, )?--([a-z][a-z0-9-]*)/gm)];
  return new Set(defined.map((m) => m[1]!).filter((flag) => flag !== 'help'));
}

function sections(doc: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = doc.split(/^## /m).slice(1);
  for (const heading of [...Object.keys(SECTIONS), SHARED]) {
    const part = parts.find((p) => p.startsWith(heading));
    assert.ok(part !== undefined, `docs/CLI.md has a section "## ${heading}…"`);
    out.set(heading, part);
  }
  return out;
}

describe('docs/CLI.md', () => {
  it('documents every long flag of every command, and no flag that does not exist', async (t) => {
    const doc = await readFile(new URL('../../docs/CLI.md', import.meta.url), 'utf8');
    const bySection = sections(doc);
    const shared = longFlags(bySection.get(SHARED)!);
    // A client's section may name the server flag it needs (`--allow-shell`).
    const serverFlags = await helpFlags(t, 'serve');
    const missing: string[] = [];
    const unknown: string[] = [];
    for (const [heading, commands] of Object.entries(SECTIONS)) {
      const documented = longFlags(bySection.get(heading)!);
      const real = new Set<string>();
      for (const command of commands) {
        for (const flag of await helpFlags(t, command)) {
          real.add(flag);
          if (!documented.has(flag) && !shared.has(flag)) missing.push(`${command} --${flag}`);
        }
      }
      for (const flag of documented) {
        const base = flag.replace(/^no-/, '');
        const known = (f: string): boolean => real.has(f) || serverFlags.has(f);
        if (!known(flag) && !known(base) && !known(`no-${flag}`)) {
          unknown.push(`${heading.slice(1)} --${flag}`);
        }
      }
    }
    assert.deepEqual(missing, [], 'flags --help prints that docs/CLI.md does not document');
    assert.deepEqual(unknown, [], 'flags docs/CLI.md documents that --help does not know');
  });
});

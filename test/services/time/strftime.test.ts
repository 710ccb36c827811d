import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { strftime } from '../../../src/index.js';
import { requireTool } from '../../helpers/tools.js';

/** Formats people use, every glibc conversion, flags, widths, modifiers and junk. */
const FORMATS = [
  '',
  '%Y-%m-%d %X',
  '%c',
  '%x %X',
  '%a %A %b %B %h',
  '%e|%k|%l|%P|%p|%I',
  '%j %U %W %V %G %g %u %w',
  '%C %D %F %T %R %r',
  '%n%t%%',
  '%s',
  '%Z %z',
  '%_d %-d %0e %^a %#a %#p %#Z %10A %-10A %_5m %03d %-j %_j %^B %#B',
  '%Ey %EY %Ec %Od %OH %Ob',
  '%Q %5 %E %O %+ %Ea %Oa',
  '%',
  'trailing %',
  '%5%',
  'plain text',
  'héllo %Y ✓',
  '%H:%M:%S on %A, week %V of %G',
];

/** Instants around the edges: epoch, leap day, year ends (ISO week years), 2036. */
const INSTANTS = [
  '1970-01-01T00:00:00Z',
  '2000-02-29T12:00:00Z',
  '2004-12-31T23:59:59Z',
  '2005-01-01T00:00:00Z',
  '2008-12-29T00:00:00Z',
  '2010-01-03T12:00:00Z',
  '2026-01-05T03:04:05Z',
  '2036-02-07T06:28:16Z',
].map(Date.parse);

/** Python's own time.strftime on this machine, in time zone `tz`. */
function pythonStrftime(tz: string): string[][] {
  const script = [
    'import json, sys, time',
    'formats, instants = json.loads(sys.argv[1]), json.loads(sys.argv[2])',
    'print(json.dumps([[time.strftime(f, time.localtime(t / 1000)) for f in formats] for t in instants]))',
  ].join('\n');
  const out = execFileSync(
    'python3',
    ['-c', script, JSON.stringify(FORMATS), JSON.stringify(INSTANTS)],
    {
      env: { ...process.env, TZ: tz, LC_ALL: 'C' },
    },
  );
  return JSON.parse(out.toString()) as string[][];
}

describe('strftime matches Python time.strftime', () => {
  // America/New_York: an abbreviation Intl knows (EST/EDT) and a negative offset.
  for (const tz of ['UTC', 'America/New_York']) {
    it(`for ${FORMATS.length} formats × ${INSTANTS.length} instants in ${tz}`, (t) => {
      if (!requireTool(t, 'python3')) return;
      const expected = pythonStrftime(tz);
      const saved = process.env.TZ;
      process.env.TZ = tz;
      t.after(() => {
        if (saved === undefined) delete process.env.TZ;
        else process.env.TZ = saved;
      });
      INSTANTS.forEach((instant, i) => {
        FORMATS.forEach((format, j) => {
          assert.equal(
            strftime(format, instant),
            expected[i]?.[j],
            `${JSON.stringify(format)} at ${new Date(instant).toISOString()}`,
          );
        });
      });
    });
  }
});

/**
 * A bench's report: its table printed as text, its results block rewritten in
 * a doc (between begin/end markers, formatted by prettier) with
 * --update-docs, and its raw samples saved as JSON under .bench-results/.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RESULTS_DIR } from './processes.js';

/** Rows of a table, notes under it, and the targets that were missed. */
export interface Report {
  rows: string[][];
  notes: string[];
  failures: string[];
}

export const emptyReport = (): Report => ({ rows: [], notes: [], failures: [] });

/** A plain-text table with aligned columns. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A Markdown table (prettier aligns it when the doc is written). */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const rule = `|${header.map((_h, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** Prints a report: the table, the legend, notes and missed targets. */
export function printReport(
  header: readonly string[],
  report: Report,
  legend: readonly string[] = [],
): void {
  console.log('');
  console.log(textTable(header, report.rows));
  console.log('');
  for (const line of legend) console.log(line);
  for (const note of report.notes) console.log(`note: ${note}`);
  for (const failure of report.failures) console.log(`BELOW TARGET: ${failure}`);
}

/** A report as Markdown: table (sub-rows marked ↳), legend, notes, missed targets. */
export function reportMarkdown(
  header: readonly string[],
  report: Report,
  legend: readonly string[] = [],
): string {
  return [
    // Markdown drops leading spaces: sub-rows get an arrow instead.
    markdownTable(
      header,
      report.rows.map((row) =>
        row.map((cell, i) => (i === 0 ? cell.replace(/^ {2}/, '↳ ') : cell)),
      ),
    ),
    '',
    ...legend.map((line) => `- ${line}`),
    '',
    ...report.notes.map((note) => `- ${note}`),
    ...(report.failures.length > 0
      ? ['', '**Below target:**', '', ...report.failures.map((f) => `- ${f}`)]
      : []),
  ].join('\n');
}

/**
 * Replaces the text between `<!-- bench:NAME:begin -->` and
 * `<!-- bench:NAME:end -->` in `doc` with `block`, then formats the doc with
 * the repository's prettier config (so `npm run lint` stays green).
 */
export async function updateDocBlock(doc: string, name: string, block: string): Promise<void> {
  const begin = `<!-- bench:${name}:begin -->`;
  const end = `<!-- bench:${name}:end -->`;
  let text: string;
  try {
    text = await readFile(doc, 'utf8');
  } catch {
    throw new Error(`${doc} is missing: it holds the method notes around the results block`);
  }
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${doc} has no ${begin} … ${end} block`);
  let next = `${text.slice(0, from)}${begin}\n\n${block}\n\n${end}${text.slice(to + end.length)}`;
  const prettier = await import('prettier');
  const config = (await prettier.resolveConfig(doc)) ?? {};
  next = await prettier.format(next, { ...config, filepath: doc });
  await writeFile(doc, next);
  process.stderr.write(`updated ${doc}\n`);
}

/** Saves a bench's raw results as .bench-results/NAME-DATE.json; returns the path. */
export async function saveResults(name: string, date: string, json: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}-${date.replace(/[:]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stderr.write(`raw results: ${file}\n`);
  return file;
}

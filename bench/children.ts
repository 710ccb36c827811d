import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Compiles a bench's child-process sources (paths relative to `benchDir`) to
 * plain JS in `jsDir`, so the children run on plain node with no TypeScript
 * loader: a loader (tsx) also rewrites the imported dist/ modules, turning
 * every cross-module call into a getter call, and runs a loader thread in each
 * process. Type erasure only; `npm run typecheck` checks the sources.
 */
export async function compileChildren(
  benchDir: string,
  jsDir: string,
  files: readonly string[],
): Promise<void> {
  const ts = (await import('typescript')).default;
  for (const file of files) {
    const source = await readFile(`${benchDir}${file}`, 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    });
    const out = `${jsDir}/${file.replace(/\.ts$/, '.js')}`;
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, outputText);
  }
}

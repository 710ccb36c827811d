// The public API as a user meets it: every name `import 'sockit'` gives has
// TSDoc, the entry points each have an @example, and every example compiles
// against the package's published types (`sockit` resolves through
// package.json "exports" to dist/, which `npm test` builds first).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
const INDEX = join(root, 'src/index.ts');

/** The classes and functions a user starts from: each shows how in an @example. */
const ENTRY_POINTS = [
  'EchoServer',
  'EchoClient',
  'EchoUdpClient',
  'TimeServer',
  'queryTime',
  'ExecServer',
  'ExecClient',
  'FilesServer',
  'FilesClient',
  'ChatServer',
  'ChatClient',
  'MessengerPeer',
  'WebGateway',
  'relayConnect',
  'relayListen',
  'TcpServer',
  'connect',
  'FrameDecoder',
];

const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: true,
  types: ['node'],
  noEmit: true,
};

interface Documented {
  name: string;
  doc: string;
  examples: string[];
}

function publicNames(): Documented[] {
  const program = ts.createProgram([INDEX], OPTIONS);
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(INDEX);
  assert.ok(file);
  const module = checker.getSymbolAtLocation(file);
  assert.ok(module);
  return checker.getExportsOfModule(module).map((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    return {
      name: symbol.name,
      doc: ts.displayPartsToString(target.getDocumentationComment(checker)).trim(),
      examples: target
        .getJsDocTags(checker)
        .filter((tag) => tag.name === 'example')
        .map((tag) => ts.displayPartsToString(tag.text)),
    };
  });
}

/** The code of an @example: the fenced block if there is one. */
function codeOf(example: string): string {
  const fenced = /```(?:ts|typescript)?\n([\s\S]*?)```/.exec(example);
  return (fenced?.[1] ?? example).trim() + '\n';
}

const names = publicNames();

describe('the public API', () => {
  it('documents every name it exports', () => {
    const undocumented = names.filter((n) => n.doc === '').map((n) => n.name);
    assert.deepEqual(undocumented, [], 'names without TSDoc');
  });

  it('shows each entry point in an @example', () => {
    const missing = ENTRY_POINTS.filter(
      (name) => (names.find((n) => n.name === name)?.examples.length ?? 0) === 0,
    );
    assert.deepEqual(missing, [], 'entry points without an @example');
  });

  it('compiles every @example against the published types', () => {
    const files = new Map<string, string>();
    for (const { name, examples } of names) {
      examples.forEach((example, i) => {
        // Beside package.json, so `import … from 'sockit'` is the package's self-reference.
        files.set(join(root, `.example-${name}-${i}.ts`), codeOf(example));
      });
    }
    assert.ok(files.size >= ENTRY_POINTS.length);
    const disk = ts.createCompilerHost(OPTIONS);
    const host: ts.CompilerHost = {
      ...disk,
      fileExists: (f) => files.has(f) || disk.fileExists(f),
      readFile: (f) => files.get(f) ?? disk.readFile(f),
      getSourceFile: (f, version, ...rest) => {
        const text = files.get(f);
        return text !== undefined
          ? ts.createSourceFile(f, text, version, true)
          : disk.getSourceFile(f, version, ...rest);
      },
    };
    const program = ts.createProgram([...files.keys()], OPTIONS, host);
    const problems = [...files.keys()].flatMap((f) =>
      ts.getPreEmitDiagnostics(program, program.getSourceFile(f)).map((d) => {
        const where = d.file?.getLineAndCharacterOfPosition(d.start ?? 0);
        const line = where === undefined ? '' : `:${where.line + 1}`;
        return `${f.slice(root.length)}${line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      }),
    );
    assert.deepEqual(problems, []);
  });
});

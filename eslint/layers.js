// @ts-check
// The import rules of docs/ARCHITECTURE.md, one block per layer.
//
// ESLint's flat config replaces a rule's options with those of the last block
// that matches a file, so rules spread over overlapping blocks silently undo
// each other. Here every file matches exactly one block (the globs do not
// overlap) and each block carries its layer's whole rule, the `node:` prefix
// included. test/lint/layers.test.ts lints a fixture that breaks each rule.
import { builtinModules } from 'node:module';

const RULE = '@typescript-eslint/no-restricted-imports';

const builtins = builtinModules.filter((m) => !m.startsWith('_')).map((m) => m.replace('/', '\\/'));

/** `fs` instead of `node:fs`: everywhere. */
const NODE_PREFIX = {
  regex: `^(${builtins.join('|')})(\\/.*)?$`,
  message: 'Use the node: protocol (node:fs, not fs).',
};

/** Anything that opens a socket. */
const SOCKET_MODULES = [
  'node:net',
  'node:dgram',
  'node:tls',
  'node:http',
  'node:https',
  'node:http2',
  'ws',
];

const I_O_MODULES = [
  ...SOCKET_MODULES,
  'node:fs',
  'node:fs/*',
  'node:child_process',
  'node:worker_threads',
];

/** What the CLI may take from the library: its public entries, and the internal ones (src/internal.ts, services/<name>/internal.ts). */
const PUBLIC_ENTRY =
  '(?:index\\.js|core\\.js|internal\\.js|services\\/[a-z-]+\\/(?:index|internal)\\.js)$';

/**
 * @param {string[]} files
 * @param {object[]} patterns
 * @param {string[]} [ignores]
 */
function layer(files, patterns, ignores) {
  return {
    files,
    ...(ignores === undefined ? {} : { ignores }),
    rules: {
      'no-restricted-imports': 'off',
      [RULE]: ['error', { patterns: [NODE_PREFIX, ...patterns] }],
    },
  };
}

/**
 * The CLI at `depth` folders below src/ (src/cli/*.ts is 1): a library import
 * climbs exactly `depth` levels, then must name a public entry.
 * @param {number} depth
 */
function cliLayer(depth) {
  return layer(
    [`src/cli/${'*/'.repeat(depth - 1)}*.ts`],
    [
      {
        group: SOCKET_MODULES,
        message: 'The CLI is a thin layer over the library: sockets live in src/transport.',
      },
      {
        regex: `^(\\.\\.\\/){${depth}}(?!${PUBLIC_ENTRY})`,
        message:
          'The CLI imports only the public API (index.js, core.js, services/<name>/index.js) and the internal entries, so the library can do all it does.',
      },
    ],
  );
}

export const layers = [
  layer(
    ['src/protocol/**/*.ts'],
    [
      {
        group: I_O_MODULES,
        message: 'src/protocol is pure bytes <-> messages: no sockets, files or processes.',
      },
      {
        regex: '^\\.\\.\\/(transport|services|cli)(\\/|$)',
        message: 'src/protocol is the bottom layer: it imports no transport, service or CLI code.',
      },
    ],
  ),
  layer(
    ['src/transport/**/*.ts'],
    [
      {
        regex: '^\\.\\.\\/(services|cli)(\\/|$)',
        message:
          'src/transport carries bytes for every service: it imports no service or CLI code.',
      },
    ],
  ),
  layer(
    ['src/services/**/*.ts'],
    [
      {
        group: SOCKET_MODULES,
        allowTypeImports: true,
        message: 'Sockets live in src/transport: a service talks to a Connection.',
      },
      {
        regex: '^(\\.\\.\\/)+cli(\\/|$)',
        message: 'Services are the library: they never import the CLI.',
      },
    ],
  ),
  ...[1, 2, 3].map(cliLayer),
  layer(
    ['src/*.ts'],
    [
      {
        group: SOCKET_MODULES,
        message: 'Sockets live in src/transport.',
      },
      {
        regex: '^\\.\\/cli(\\/|$)',
        message: 'The library never imports the CLI.',
      },
    ],
  ),
  // Tests, benches, scripts, the page and config files: only the node: prefix.
  layer(['**/*.ts', '**/*.js', '**/*.mjs'], [], ['src/**']),
];

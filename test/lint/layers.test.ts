// The layer rules of docs/ARCHITECTURE.md must fail the build. Each case lints
// a small in-memory file, placed at a path in the layer, with the project's own
// eslint.config.js (type-aware rules off: the file exists only in memory), and
// asserts the import rule reports it — or, for the allowed imports, that it
// does not. A config edit that lets a later block undo a layer fails here.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const root = fileURLToPath(new URL('../..', import.meta.url));
const eslint = new ESLint({ cwd: root, overrideConfig: tseslint.configs.disableTypeChecked });
const RULE = '@typescript-eslint/no-restricted-imports';

async function importErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path });
  assert.ok(result, `eslint linted ${path}`);
  return result.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
}

async function assertRefused(path: string, code: string, why: RegExp): Promise<void> {
  const errors = await importErrors(path, code);
  assert.equal(
    errors.length,
    1,
    `${path}: ${code} must be refused once, got ${JSON.stringify(errors)}`,
  );
  assert.match(errors[0]!, why);
}

async function assertAllowed(path: string, code: string): Promise<void> {
  assert.deepEqual(await importErrors(path, code), [], `${path}: ${code} is allowed`);
}

describe('layer rules', () => {
  it('keeps src/protocol pure: no sockets, files, processes or upper layers', async () => {
    const at = 'src/protocol/probe.ts';
    for (const mod of [
      'node:net',
      'node:dgram',
      'node:tls',
      'node:fs',
      'node:fs/promises',
      'node:child_process',
    ]) {
      await assertRefused(at, `import '${mod}';\n`, /pure bytes/);
    }
    await assertRefused(
      at,
      `import { connect } from '../transport/tcp-client.js';\n`,
      /bottom layer/,
    );
    await assertRefused(
      at,
      `import { EchoServer } from '../services/echo/index.js';\n`,
      /bottom layer/,
    );
    await assertRefused(at, `import { main } from '../cli/main.js';\n`, /bottom layer/);
    await assertAllowed(
      at,
      `import { ProtocolError } from '../errors.js';\nimport { MAX_FRAME } from '../limits.js';\n`,
    );
  });

  it('lets only src/transport open sockets', async () => {
    await assertAllowed('src/transport/probe.ts', `import { createServer } from 'node:net';\n`);
    await assertRefused(
      'src/services/echo/probe.ts',
      `import { createServer } from 'node:net';\n`,
      /src\/transport/,
    );
    await assertRefused(
      'src/services/web/probe.ts',
      `import { WebSocketServer } from 'ws';\n`,
      /src\/transport/,
    );
    await assertRefused(
      'src/cli/commands/probe.ts',
      `import { connect } from 'node:tls';\n`,
      /src\/transport/,
    );
    await assertRefused(
      'src/log.ts',
      `import { createSocket } from 'node:dgram';\n`,
      /src\/transport/,
    );
    // A type names no socket at run time.
    await assertAllowed(
      'src/services/web/probe.ts',
      `import type { IncomingMessage } from 'node:http';\n`,
    );
  });

  it('keeps transport below the services and the services below the CLI', async () => {
    await assertRefused(
      'src/transport/probe.ts',
      `import { ChatServer } from '../services/chat/index.js';\n`,
      /no service/,
    );
    await assertRefused(
      'src/transport/probe.ts',
      `import { main } from '../cli/main.js';\n`,
      /no service or CLI/,
    );
    await assertRefused(
      'src/services/files/probe.ts',
      `import { formatBytes } from '../../cli/output.js';\n`,
      /never import the CLI/,
    );
    await assertRefused(
      'src/core.ts',
      `import { main } from './cli/main.js';\n`,
      /never imports the CLI/,
    );
  });

  it('lets the CLI import only the public API', async () => {
    const command = 'src/cli/commands/probe.ts';
    await assertRefused(
      command,
      `import { connect } from '../../transport/tcp-client.js';\n`,
      /public API/,
    );
    await assertRefused(
      command,
      `import { FrameDecoder } from '../../protocol/frame-decoder.js';\n`,
      /public API/,
    );
    await assertRefused(
      command,
      `import { ChatServer } from '../../services/chat/server.js';\n`,
      /public API/,
    );
    await assertRefused(
      'src/cli/probe.ts',
      `import { SockitError } from '../errors.js';\n`,
      /public API/,
    );
    // The internal entries (not in package.json "exports") are the CLI's too.
    await assertAllowed(
      command,
      `import { formatBytes } from '../../services/files/internal.js';\nimport { computeMac } from '../../internal.js';\n`,
    );
    // Any depth: a folder of the CLI climbs one level more, and still lands on a public entry.
    await assertRefused(
      'src/cli/serve/probe.ts',
      `import { TcpServer } from '../../transport/tcp-server.js';\n`,
      /public API/,
    );
    await assertRefused(
      'src/cli/serve/probe.ts',
      `import { x } from '../../../package.json';\n`,
      /public API/,
    );
    await assertAllowed(
      'src/cli/serve/probe.ts',
      `import { TcpServer } from '../../core.js';\nimport { EXIT_OK } from '../output.js';\n`,
    );
    await assertAllowed(
      command,
      [
        `import { EchoClient } from '../../index.js';`,
        `import { SockitError } from '../../core.js';`,
        `import { ChatServer } from '../../services/chat/index.js';`,
        `import { parseDuration } from '../options.js';`,
        `import { readFile } from 'node:fs/promises';`,
        '',
      ].join('\n'),
    );
    await assertAllowed(
      'src/cli/probe.ts',
      `import { SockitError } from '../core.js';\nimport { x } from './output.js';\n`,
    );
  });

  it('asks for the node: prefix in every layer, tests and scripts included', async () => {
    for (const at of [
      'src/protocol/probe.ts',
      'src/services/echo/probe.ts',
      'src/cli/probe.ts',
      'src/probe.ts',
    ]) {
      await assertRefused(at, `import { readFile } from 'fs/promises';\n`, /node: protocol/);
    }
    await assertRefused(
      'test/probe.test.ts',
      `import { createServer } from 'net';\n`,
      /node: protocol/,
    );
    await assertRefused(
      'scripts/probe.mjs',
      `import { spawn } from 'child_process';\n`,
      /node: protocol/,
    );
    await assertAllowed(
      'test/probe.test.ts',
      `import { createServer } from 'node:net';\nimport { x } from './helpers/net.js';\n`,
    );
  });

  it('refuses a plain Error in src/: every error has a stable code', async () => {
    const [bad] = await eslint.lintText(`throw new Error('oops');\n`, {
      filePath: 'src/services/echo/probe.ts',
    });
    assert.ok(
      bad?.messages.some(
        (m) => m.ruleId === 'no-restricted-syntax' && /SockitError/.test(m.message),
      ),
    );
    const [good] = await eslint.lintText(
      `import { InternalError } from '../../errors.js';\nthrow new InternalError('unreachable');\n`,
      { filePath: 'src/services/echo/probe.ts' },
    );
    assert.deepEqual(
      good?.messages.filter((m) => m.ruleId === 'no-restricted-syntax'),
      [],
    );
  });
});

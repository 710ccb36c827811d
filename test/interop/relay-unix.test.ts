import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/echo.js';
import { run, runCli } from '../helpers/proc.js';
import { startListen, watch } from '../helpers/relay.js';
import { requireTool } from '../helpers/tools.js';

const T = { timeout: 20_000 };

// Unix-domain stream sockets, both directions: each end sends a line and
// half-closes; each must print exactly the other's line and exit 0.

interface Tool {
  name: string;
  debianPackage: string;
  client(path: string): string[];
  server(path: string): string[];
  listening: RegExp;
}

const TOOLS: Tool[] = [
  {
    name: 'nc',
    debianPackage: 'netcat-openbsd',
    client: (path) => ['-N', '-U', path],
    server: (path) => ['-N', '-v', '-U', '-l', path],
    listening: /Listening on/,
  },
  {
    name: 'ncat',
    debianPackage: 'ncat',
    client: (path) => ['-U', path],
    server: (path) => ['-v', '-U', '-l', path],
    listening: /Listening on/,
  },
  {
    name: 'socat',
    debianPackage: 'socat',
    client: (path) => ['-t', '5', '-', `UNIX-CONNECT:${path}`],
    server: (path) => ['-d', '-d', '-t', '5', `UNIX-LISTEN:${path}`, '-'],
    listening: /listening on/,
  },
];

for (const tool of TOOLS) {
  describe(`${tool.name} over a Unix socket`, () => {
    it(`${tool.name} client → sockit listen unix:PATH`, T, async (t) => {
      if (!requireTool(t, tool.name, tool.debianPackage)) return;
      const path = join(await tempDir(t), 'listen.sock');
      const { proc } = await startListen(t, [`unix:${path}`]);
      proc.child.stdin.end('from sockit\n');
      const peer = await run(t, tool.name, tool.client(path), { input: `from ${tool.name}\n` });
      assert.equal(peer.code, 0, peer.stderr);
      assert.equal(peer.stdout, 'from sockit\n');
      const listener = await proc.result;
      assert.equal(listener.code, 0, listener.stderr);
      assert.equal(listener.stdout, `from ${tool.name}\n`);
    });

    it(`sockit connect unix:PATH → ${tool.name} listener`, T, async (t) => {
      if (!requireTool(t, tool.name, tool.debianPackage)) return;
      const path = join(await tempDir(t), 'peer.sock');
      const server = watch(t, tool.name, tool.server(path));
      await server.stderrMatch(tool.listening);
      server.child.stdin.end(`from ${tool.name}\n`);
      const client = await runCli(t, ['connect', `unix:${path}`], { input: 'from sockit\n' });
      assert.equal(client.code, 0, client.stderr);
      assert.equal(client.stdout, `from ${tool.name}\n`);
      const peer = await server.result;
      assert.equal(peer.code, 0, peer.stderr);
      assert.equal(peer.stdout, 'from sockit\n');
    });
  });
}

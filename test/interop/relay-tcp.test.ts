import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { run, runCli } from '../helpers/proc.js';
import { freePort, startListen, watch } from '../helpers/relay.js';
import { requireTool } from '../helpers/tools.js';

const T = { timeout: 20_000 };

// Each real peer on both sides of `sockit connect` / `sockit listen`, over
// IPv4 and IPv6 loopback. Both ends send a line and half-close; each must
// print exactly the other's line and exit 0.

interface Tool {
  name: string;
  debianPackage: string;
  /** A client of host:port whose stdin EOF half-closes. */
  client(host: string, port: number): string[];
  /** A one-shot server on host:port whose stdin EOF half-closes; prints `listening` on stderr. */
  server(host: string, port: number): string[];
  listening: RegExp;
}

function bracket(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

const TOOLS: Tool[] = [
  {
    name: 'nc',
    debianPackage: 'netcat-openbsd',
    client: (host, port) => ['-N', host, String(port)],
    server: (host, port) => ['-N', '-v', '-l', host, String(port)],
    listening: /Listening on/,
  },
  {
    name: 'ncat',
    debianPackage: 'ncat',
    client: (host, port) => [host, String(port)],
    server: (host, port) => ['-v', '-l', host, String(port)],
    listening: /Listening on/,
  },
  {
    name: 'socat',
    debianPackage: 'socat',
    client: (host, port) => [
      '-t',
      '5',
      '-',
      `${host.includes(':') ? 'TCP6' : 'TCP4'}:${bracket(host)}:${port}`,
    ],
    server: (host, port) => [
      '-d',
      '-d',
      '-t',
      '5',
      `${host.includes(':') ? 'TCP6' : 'TCP4'}-LISTEN:${port},bind=${bracket(host)},reuseaddr`,
      '-',
    ],
    listening: /listening on/,
  },
];

for (const tool of TOOLS) {
  for (const host of ['127.0.0.1', '::1']) {
    describe(`${tool.name} over TCP ${host.includes(':') ? 'IPv6' : 'IPv4'}`, () => {
      it(`${tool.name} client → sockit listen`, T, async (t) => {
        if (!requireTool(t, tool.name, tool.debianPackage)) return;
        const { proc, address } = await startListen(t, [host, '0']);
        const port = Number(/:(\d+)$/.exec(address)?.[1]);
        proc.child.stdin.end('from sockit\n');
        const peer = await run(t, tool.name, tool.client(host, port), {
          input: `from ${tool.name}\n`,
        });
        assert.equal(peer.code, 0, peer.stderr);
        assert.equal(peer.stdout, 'from sockit\n');
        const listener = await proc.result;
        assert.equal(listener.code, 0, listener.stderr);
        assert.equal(listener.stdout, `from ${tool.name}\n`);
      });

      it(`sockit connect → ${tool.name} server`, T, async (t) => {
        if (!requireTool(t, tool.name, tool.debianPackage)) return;
        const port = await freePort('tcp', host);
        const server = watch(t, tool.name, tool.server(host, port));
        await server.stderrMatch(tool.listening);
        server.child.stdin.end(`from ${tool.name}\n`);
        const client = await runCli(t, ['connect', `${bracket(host)}:${port}`], {
          input: 'from sockit\n',
        });
        assert.equal(client.code, 0, client.stderr);
        assert.equal(client.stdout, `from ${tool.name}\n`);
        const peer = await server.result;
        assert.equal(peer.code, 0, peer.stderr);
        assert.equal(peer.stdout, 'from sockit\n');
      });
    });
  }
}

it('binary data through nc both ways is byte-exact', T, async (t) => {
  if (!requireTool(t, 'nc', 'netcat-openbsd')) return;
  const toNc = Buffer.from(Array.from({ length: 256 * 64 }, (_, i) => i % 256));
  const fromNc = Buffer.from(Array.from({ length: 256 * 64 }, (_, i) => 255 - (i % 256)));
  const { proc, address } = await startListen(t, ['127.0.0.1:0']);
  const port = /:(\d+)$/.exec(address)?.[1] ?? '';
  proc.child.stdin.end(toNc);
  const peer = await run(t, 'nc', ['-N', '127.0.0.1', port], { input: fromNc });
  assert.equal(peer.code, 0, peer.stderr);
  assert.ok(peer.stdoutBytes.equals(toNc));
  assert.ok((await proc.result).stdoutBytes.equals(fromNc));
});

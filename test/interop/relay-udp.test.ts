import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort, startListen, watch, watchCli } from '../helpers/relay.js';
import { requireTool } from '../helpers/tools.js';

const T = { timeout: 20_000 };

// UDP has no connection and no end: each side sends a datagram once the other
// is known to be there, and the test ends the sessions (stdin EOF, a signal).

interface Tool {
  name: string;
  debianPackage: string;
  client(host: string, port: number): string[];
  /** A UDP listener that talks to the first peer that sends; prints `listening` on stderr. */
  server(host: string, port: number): string[];
  listening: RegExp;
}

const TOOLS: Tool[] = [
  {
    name: 'nc',
    debianPackage: 'netcat-openbsd',
    client: (host, port) => ['-u', host, String(port)],
    server: (host, port) => ['-u', '-v', '-l', host, String(port)],
    listening: /Bound on/,
  },
  {
    name: 'ncat',
    debianPackage: 'ncat',
    client: (host, port) => ['-u', host, String(port)],
    server: (host, port) => ['-u', '-v', '-l', host, String(port)],
    listening: /Listening on/,
  },
  {
    name: 'socat',
    debianPackage: 'socat',
    client: (host, port) => ['-', `UDP4:${host}:${port}`],
    server: (host, port) => ['-d', '-d', `UDP4-LISTEN:${port},bind=${host},reuseaddr`, '-'],
    listening: /listening on/,
  },
];

for (const tool of TOOLS) {
  describe(`${tool.name} over UDP`, () => {
    it(`${tool.name} -u client → sockit listen --udp`, T, async (t) => {
      if (!requireTool(t, tool.name, tool.debianPackage)) return;
      const { proc, address } = await startListen(t, ['--udp', '127.0.0.1:0']);
      const port = Number(/:(\d+)$/.exec(address)?.[1]);
      const peer = watch(t, tool.name, tool.client('127.0.0.1', port));
      peer.child.stdin.write(`datagram from ${tool.name}\n`);
      await proc.stdoutHas(`datagram from ${tool.name}\n`);
      await proc.stderrMatch(/connection from 127\.0\.0\.1:\d+/);
      proc.child.stdin.write('datagram from sockit\n');
      await peer.stdoutHas('datagram from sockit\n');
      proc.child.kill('SIGTERM');
      const listener = await proc.result;
      assert.equal(listener.code, 0, listener.stderr);
      assert.equal(listener.stdout, `datagram from ${tool.name}\n`);
      assert.equal(peer.stdout.text(), 'datagram from sockit\n');
    });

    it(`sockit connect --udp → ${tool.name} -u listener`, T, async (t) => {
      if (!requireTool(t, tool.name, tool.debianPackage)) return;
      const port = await freePort('udp');
      const server = watch(t, tool.name, tool.server('127.0.0.1', port));
      await server.stderrMatch(tool.listening);
      const client = watchCli(t, ['connect', '--udp', '-q', '0.2', `127.0.0.1:${port}`]);
      client.child.stdin.write('datagram from sockit\n');
      await server.stdoutHas('datagram from sockit\n');
      server.child.stdin.write(`datagram from ${tool.name}\n`);
      await client.stdoutHas(`datagram from ${tool.name}\n`);
      client.child.stdin.end();
      const result = await client.result; // quits 0.2 s after stdin EOF
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `datagram from ${tool.name}\n`);
      assert.equal(server.stdout.text(), 'datagram from sockit\n');
    });
  });
}

it('sockit listen --udp --keep-open serves nc and socat at once', T, async (t) => {
  if (!requireTool(t, 'nc', 'netcat-openbsd') || !requireTool(t, 'socat')) return;
  const { proc, address } = await startListen(t, ['--udp', '--keep-open', '127.0.0.1:0']);
  const port = Number(/:(\d+)$/.exec(address)?.[1]);
  const nc = watch(t, 'nc', ['-u', '127.0.0.1', String(port)]);
  const socat = watch(t, 'socat', ['-', `UDP4:127.0.0.1:${port}`]);
  nc.child.stdin.write('hi from nc\n');
  socat.child.stdin.write('hi from socat\n');
  await proc.stdoutHas('hi from nc\n');
  await proc.stdoutHas('hi from socat\n');
  proc.child.stdin.write('to both\n');
  await nc.stdoutHas('to both\n');
  await socat.stdoutHas('to both\n');
  proc.child.kill('SIGTERM');
  assert.equal((await proc.result).code, 0);
});

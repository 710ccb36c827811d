import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { TestContext } from 'node:test';
import type { Address, RelayEvent, RelayIo } from '../../src/index.js';
import { CLI, finished, type RunResult } from './proc.js';

/** A stream that keeps everything written to it, and can wait for some of it. */
export class Capture extends PassThrough {
  private chunks: Buffer[] = [];
  private waiters: { match: (all: Buffer) => boolean; resolve: () => void }[] = [];

  constructor() {
    super();
    this.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      const all = this.bytes();
      for (const w of this.waiters.splice(0)) {
        if (w.match(all)) w.resolve();
        else this.waiters.push(w);
      }
    });
  }

  bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  text(): string {
    return this.bytes().toString();
  }

  /** Resolves once what was written so far satisfies `match` (text includes it, or a predicate). */
  waitFor(match: string | ((all: Buffer) => boolean)): Promise<void> {
    const test =
      typeof match === 'string' ? (all: Buffer) => all.toString().includes(match) : match;
    if (test(this.bytes())) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ match: test, resolve });
    });
  }
}

/** In-memory stdin/stdout for a relay, and the events it reports. */
export class MemoryIo implements RelayIo {
  readonly input = new PassThrough();
  readonly output = new Capture();
  readonly events: RelayEvent[] = [];
  private waiters: { match: (e: RelayEvent) => boolean; resolve: (e: RelayEvent) => void }[] = [];

  readonly onEvent = (event: RelayEvent): void => {
    this.events.push(event);
    for (const w of this.waiters.splice(0)) {
      if (w.match(event)) w.resolve(event);
      else this.waiters.push(w);
    }
  };

  /** The first event matching (already seen or still to come). */
  waitForEvent<T extends RelayEvent['type']>(
    type: T,
    match: (e: Extract<RelayEvent, { type: T }>) => boolean = () => true,
  ): Promise<Extract<RelayEvent, { type: T }>> {
    const test = (e: RelayEvent): boolean =>
      e.type === type && match(e as Extract<RelayEvent, { type: T }>);
    const seen = this.events.find(test);
    if (seen) return Promise.resolve(seen as Extract<RelayEvent, { type: T }>);
    return new Promise((resolve) => {
      this.waiters.push({
        match: test,
        resolve: (e) => {
          resolve(e as Extract<RelayEvent, { type: T }>);
        },
      });
    });
  }

  eventsOf<T extends RelayEvent['type']>(type: T): Extract<RelayEvent, { type: T }>[] {
    return this.events.filter((e) => e.type === type) as Extract<RelayEvent, { type: T }>[];
  }
}

/** A raw TCP (or Unix) server for tests: hands over each socket; closed in teardown. */
export async function peerServer(
  t: TestContext,
  onSocket: (socket: Socket) => void,
  where: { host: string } | { path: string } = { host: '127.0.0.1' },
): Promise<{ server: Server; address: Address }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  if ('path' in where) server.listen(where.path);
  else server.listen(0, where.host);
  await once(server, 'listening');
  if ('path' in where) return { server, address: { kind: 'unix', path: where.path } };
  const info = server.address();
  if (info === null || typeof info !== 'object') throw new Error('no address');
  return { server, address: { kind: 'inet', host: where.host, port: info.port } };
}

/** A running program whose stdout and stderr can be waited on, and whose stdin is ours. */
export class Watched {
  readonly stdout = new Capture();
  readonly stderr = new Capture();
  readonly result: Promise<RunResult>;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    this.result = finished(child);
    child.stdout.pipe(this.stdout);
    child.stderr.pipe(this.stderr);
    child.stdin.on('error', () => undefined); // it may exit without reading
  }

  /** The first match of `pattern` on stderr (rejects if the program exits first). */
  async stderrMatch(pattern: RegExp): Promise<RegExpMatchArray> {
    await Promise.race([
      this.stderr.waitFor((all) => pattern.test(all.toString())),
      this.result.then((r) => {
        throw new Error(
          `exited (code ${r.code}) before stderr matched ${pattern}: ${JSON.stringify(r.stderr)}`,
        );
      }),
    ]);
    return pattern.exec(this.stderr.text())!;
  }

  /** Resolves once stdout contains `text` (rejects if the program exits first). */
  async stdoutHas(text: string): Promise<void> {
    await Promise.race([
      this.stdout.waitFor(text),
      this.result.then((r) => {
        if (!this.stdout.text().includes(text)) {
          throw new Error(
            `exited (code ${r.code}) before stdout had ${JSON.stringify(text)}: ${JSON.stringify(r.stdout)} / ${JSON.stringify(r.stderr)}`,
          );
        }
      }),
    ]);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

/** Starts `command args` with pipes; SIGKILLed in teardown if still running. */
export function watch(t: TestContext, command: string, args: readonly string[]): Watched {
  const child = spawn(command, args, { stdio: 'pipe' });
  const watched = new Watched(child);
  t.after(() => {
    if (watched.running) child.kill('SIGKILL');
  });
  return watched;
}

/** `node dist/cli/main.js ARGS`, watched. */
export function watchCli(t: TestContext, args: readonly string[]): Watched {
  return watch(t, process.execPath, [CLI, ...args]);
}

/**
 * Starts `sockit listen -v … ADDRESS` and waits for its "listening on" line.
 * Returns the bound address as the CLI takes it: `127.0.0.1:PORT`, `[::1]:PORT`, `unix:/path`.
 */
export async function startListen(
  t: TestContext,
  args: readonly string[],
): Promise<{ proc: Watched; address: string }> {
  const proc = watchCli(t, ['listen', '-v', ...args]);
  const match = await proc.stderrMatch(/listening on (?:(?:tcp|udp) )?(\S+)\n/);
  return { proc, address: match[1]! };
}

/** A port that was free a moment ago (for peers that cannot report the one they bound). */
export async function freePort(kind: 'tcp' | 'udp', host = '127.0.0.1'): Promise<number> {
  if (kind === 'tcp') {
    const server = createServer();
    server.listen(0, host);
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.bind(0, host);
  await once(socket, 'listening');
  const { port } = socket.address();
  await new Promise<void>((resolve) => {
    socket.close(resolve);
  });
  return port;
}

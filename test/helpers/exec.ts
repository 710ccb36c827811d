import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import {
  ExecClient,
  ExecServer,
  type Address,
  type ExecServerOptions,
  type ExitEvent,
  type RunOptions,
} from '../../src/index.js';
import { LOOPBACK } from './net.js';

export const TOKEN = 'test-token-0123456789abcdef0123456789abcdef';

export interface StartedExec {
  server: ExecServer;
  address: Address;
}

/** An ExecServer on 127.0.0.1:0 with TOKEN, closed in teardown. */
export async function startExec(
  t: TestContext,
  options: Partial<ExecServerOptions> = {},
): Promise<StartedExec> {
  const server = new ExecServer({ token: TOKEN, ...options });
  t.after(() => server.close(0));
  const address = await server.listen(LOOPBACK);
  return { server, address };
}

export async function execClient(t: TestContext, address: Address): Promise<ExecClient> {
  const client = await ExecClient.connect(address, { token: TOKEN });
  t.after(() => {
    client.destroy();
  });
  return client;
}

/** A Writable that keeps everything; `delayMs` makes it a slow reader. */
export class Collect extends Writable {
  readonly chunks: Buffer[] = [];
  bytes = 0;

  constructor(private readonly delayMs = 0) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (error?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (this.delayMs === 0) {
      this.chunks.push(chunk);
      done();
    } else setTimeout(done, this.delayMs);
  }

  get buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.buffer.toString();
  }
}

export interface RunResult {
  exit: ExitEvent;
  stdout: Collect;
  stderr: Collect;
}

/** Runs one command with `stdin` (EOF at once if absent) and collects its output. */
export async function runRemote(
  client: ExecClient,
  request: RunOptions,
  stdin?: Uint8Array | NodeJS.ReadableStream,
): Promise<RunResult> {
  const stdout = new Collect();
  const stderr = new Collect();
  const exit = await client.run(request, {
    stdout,
    stderr,
    ...(stdin !== undefined ? { stdin: stdin as Uint8Array } : {}),
  });
  return { exit, stdout, stderr };
}

/** Whether a process exists (signal 0 probes without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves once `condition` holds. For state no event announces (another
 * process's death): polled every 20 ms, failing after `timeoutMs`.
 */
export async function eventually(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

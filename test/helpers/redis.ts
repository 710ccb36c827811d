import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { TestContext } from 'node:test';
import { finished, type RunResult } from './proc.js';
import { freePort } from './relay.js';
import { requireTool } from './tools.js';

/**
 * A real `redis-server` for a test: on a free loopback port, no persistence
 * (so a restart starts empty, as a crashed Redis without AOF does), logging
 * to stdout. `start` waits for its "Ready to accept connections" line, not
 * for time to pass; `stop` and `restart` keep the port, for fault tests; the
 * process is killed in teardown whatever the test did.
 */
export class RedisServer {
  private child: ChildProcessWithoutNullStreams | undefined;
  private exited: Promise<RunResult> | undefined;
  /** Everything it logged, across restarts. */
  log = '';

  private constructor(
    private readonly t: TestContext,
    readonly port: number,
    /** Set: the server asks for it (`requirepass`). */
    readonly password: string | undefined,
    /** Addresses it listens on besides 127.0.0.1 (e.g. a namespace's veth end). */
    private readonly extraBind: readonly string[] = [],
  ) {}

  /**
   * Starts one, or returns undefined after skipping the test loudly when
   * redis-server is not installed (under CI=true that fails instead).
   */
  static async start(
    t: TestContext,
    options: { password?: string; bind?: readonly string[] } = {},
  ): Promise<RedisServer | undefined> {
    if (!requireTool(t, 'redis-server')) return undefined;
    const server = new RedisServer(t, await freePort('tcp'), options.password, options.bind);
    t.after(() => server.stop('SIGKILL'));
    await server.spawn();
    return server;
  }

  /** `redis://127.0.0.1:PORT`, with `/DB` when given. */
  url(db?: number): string {
    return `redis://127.0.0.1:${this.port}${db !== undefined ? `/${db}` : ''}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Stops it (SIGTERM: a clean shutdown; SIGKILL: a crash) and waits until it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    const exited = this.exited;
    if (child === undefined || exited === undefined) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  }

  /** Starts it again on the same port, empty. */
  async restart(): Promise<void> {
    await this.stop();
    await this.spawn();
  }

  private spawn(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        ['127.0.0.1', ...this.extraBind].join(' '),
        '--save',
        '',
        '--appendonly',
        'no',
        '--logfile',
        '',
        '--protected-mode',
        'no',
        ...(this.password !== undefined ? ['--requirepass', this.password] : []),
      ],
      { stdio: 'pipe' },
    );
    this.child = child;
    this.exited = finished(child);
    child.stdin.end();
    return new Promise((resolve, reject) => {
      let seen = '';
      const onData = (b: Buffer): void => {
        const text = b.toString();
        this.log += text;
        seen += text;
        if (seen.includes('Ready to accept connections')) {
          seen = '';
          resolve();
        }
      };
      child.stdout.on('data', onData);
      void this.exited?.then((r) => {
        if (this.child === child) this.child = undefined;
        reject(
          new Error(
            `redis-server on port ${this.port} exited (${r.code ?? r.signal}): ${this.log}`,
          ),
        );
      });
    });
  }
}

import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { ServiceError, UsageError } from '../../errors.js';
import { DEFAULT_SHUTDOWN_GRACE_MS } from '../../limits.js';
import { silentLogger, type Logger } from '../../log.js';
import { encodeEnvelopeHeader, errorHeader } from '../../protocol/envelope.js';
import { formatAddress, type Address } from '../../transport/address.js';
import type { Connection } from '../../transport/connection.js';
import { EnvelopeChannel } from '../../transport/envelope-channel.js';
import { TcpServer, type TcpServerOptions } from '../../transport/tcp-server.js';
import { AuthFailures, startAuthenticated, type AuthFailureOptions } from '../common/handshake.js';
import type { Command } from './command.js';
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_KILL_GRACE_MS,
  DEFAULT_MAX_COMMANDS,
  EXEC_MAX_PENDING_WRITE,
} from './limits.js';
import { isLoaderVariable, type RunRequest } from './messages.js';
import { ExecSession, type CommandPlan, type ExecContext } from './session.js';
import type { Service } from '../common/service.js';

/** Options of {@link ExecServer}: the token, which commands may run, and their limits. */
export interface ExecServerOptions {
  /** The shared secret. Required: there is no unauthenticated exec (SPEC §2.3). */
  token: string;
  /** Accept `"shell"` requests (run through /bin/sh -c). @default false */
  allowShell?: boolean;
  /** Names (looked up on PATH at start) or absolute paths argv[0] may be. @default any */
  allow?: readonly string[];
  /** Commands running at once, across all connections; the next gets BUSY. @default 16 */
  maxCommands?: number;
  /** A command's timeout when the request names none, and the most it may ask for (ms). @default 10 min */
  commandTimeoutMs?: number;
  /** stdout + stderr bytes per command before it is killed (OUTPUT_LIMIT). 0 = no cap. @default 0 */
  maxOutput?: number;
  /** How long a client has to authenticate (ms). @default 10 000 */
  authTimeoutMs?: number;
  authFailures?: AuthFailureOptions;
  /** SIGTERM to SIGKILL (ms). @default 2 000 */
  killGraceMs?: number;
  /** The environment commands start from (SOCKIT_TOKEN is always removed). @default process.env */
  env?: NodeJS.ProcessEnv;
  tcp?: Omit<TcpServerOptions, 'logger' | 'name' | 'busyNotice'>;
  logger?: Logger;
}

function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy.SOCKIT_TOKEN;
  return copy;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Resolves allowlist names on PATH once, so a request's env cannot change what runs. */
async function resolveAllowlist(
  names: readonly string[],
  path: string | undefined,
): Promise<Map<string, string>> {
  const resolved = new Map<string, string>();
  const dirs = (path ?? '').split(delimiter).filter((d) => isAbsolute(d));
  for (const name of names) {
    if (name.includes('/')) {
      if (!isAbsolute(name)) {
        throw new UsageError(
          'BAD_OPTION',
          `--allow: "${name}" must be a bare name or an absolute path`,
        );
      }
      resolved.set(name, name);
      continue;
    }
    let found: string | undefined;
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (await isExecutable(candidate)) {
        found = candidate;
        break;
      }
    }
    if (found === undefined) {
      throw new UsageError('BAD_OPTION', `--allow: "${name}" is not an executable on PATH`);
    }
    resolved.set(name, found);
  }
  return resolved;
}

/**
 * Remote command execution (SPEC §2.3), safe by default: every connection
 * authenticates with the token first; argv runs directly (a shell only with
 * allowShell); stdin, stdout and stderr stream with backpressure; a timeout or
 * a disconnect kills the command's whole process group; each command is
 * audited in one log line.
 * @example
 * ```ts
 * import { ExecServer, ensureToken } from 'sockit';
 *
 * // Only the commands named may run; no shell unless allowShell.
 * const { token } = await ensureToken();
 * const server = new ExecServer({ token, allow: ['uname', 'uptime'] });
 * await server.listen({ kind: 'inet', host: '127.0.0.1', port: 7022 });
 * ```
 */
export class ExecServer implements Service {
  readonly name = 'exec';
  private readonly options: ExecServerOptions;
  private readonly tcp: TcpServer;
  private readonly log: Logger;
  private readonly failures: AuthFailures;
  private readonly env: NodeJS.ProcessEnv;
  private allowlist: Map<string, string> | undefined;
  private readonly running = new Set<Command>();
  private listening: Address | undefined;
  private sessionContext: ExecContext | undefined;

  constructor(options: ExecServerOptions) {
    if (typeof options.token !== 'string' || options.token.length === 0) {
      throw new UsageError('TOKEN_MISSING', 'the exec service needs a token');
    }
    if (options.allowShell && options.allow) {
      throw new UsageError(
        'BAD_OPTION',
        '--allow-shell with --allow would let the shell run anything: choose one',
      );
    }
    this.options = options;
    this.env = withoutSecrets(options.env ?? process.env);
    this.log = (options.logger ?? silentLogger).child({ service: 'exec' });
    this.failures = new AuthFailures(options.authFailures);
    this.tcp = new TcpServer(
      (conn) => {
        this.serve(conn);
      },
      {
        maxPendingWrite: EXEC_MAX_PENDING_WRITE,
        ...options.tcp,
        // Output backpressure pauses the child, not our reading: a client must
        // still be able to send a signal while its terminal is slow.
        pauseReadingWhileBlocked: false,
        name: 'exec',
        logger: options.logger ?? silentLogger,
        busyNotice: (error) => encodeEnvelopeHeader(errorHeader(error.code, error.message)),
      },
    );
  }

  async listen(address: Address): Promise<Address> {
    if (this.options.allow)
      this.allowlist = await resolveAllowlist(this.options.allow, this.env.PATH);
    this.listening = await this.tcp.listen(address);
    return this.listening;
  }

  get addresses(): string[] {
    return this.listening ? [`tcp ${formatAddress(this.listening)}`] : [];
  }

  /** Commands running now. */
  get commands(): number {
    return this.running.size;
  }

  async close(
    graceMs = this.options.tcp?.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
  ): Promise<void> {
    const closing = this.tcp.close(graceMs);
    // Connections end as their commands end; past the grace, kill what is left.
    const timer = setTimeout(() => {
      for (const command of this.running) command.kill('SHUTTING_DOWN');
    }, graceMs);
    timer.unref();
    await closing;
    for (const command of this.running) command.kill('SHUTTING_DOWN');
    clearTimeout(timer);
  }

  private serve(conn: Connection): void {
    const channel = new EnvelopeChannel(conn);
    this.sessionContext ??= this.context();
    const session = new ExecSession(channel, this.sessionContext);
    startAuthenticated(
      channel,
      {
        service: 'exec',
        token: this.options.token,
        failures: this.failures,
        host: conn.remoteHost,
        log: this.log,
        ...(this.options.authTimeoutMs !== undefined
          ? { timeoutMs: this.options.authTimeoutMs }
          : {}),
      },
      session.handlers(),
    );
  }

  /** What a session may ask of the server. */
  private context(): ExecContext {
    return {
      log: this.log,
      killGraceMs: this.options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      maxOutput: this.options.maxOutput ?? 0,
      admit: () => this.running.size < (this.options.maxCommands ?? DEFAULT_MAX_COMMANDS),
      track: (command, running) => {
        if (running) this.running.add(command);
        else this.running.delete(command);
      },
      plan: (request) => this.plan(request),
    };
  }

  /** What to spawn for a request, or the reason it is refused. */
  private async plan(request: RunRequest): Promise<CommandPlan> {
    const env = { ...this.env, ...request.env };
    if (this.allowlist && request.env) {
      const refused = Object.keys(request.env).filter(isLoaderVariable);
      if (refused.length > 0) {
        throw new ServiceError(
          'NOT_ALLOWED',
          `env ${refused.join(', ')} may not be set on this server`,
        );
      }
    }
    let file: string;
    let args: string[];
    let argv0: string;
    if (request.shell !== undefined) {
      if (!this.options.allowShell) {
        throw new ServiceError(
          'NOT_ALLOWED',
          'shell commands are off on this server (--allow-shell)',
        );
      }
      file = '/bin/sh';
      args = ['-c', request.shell];
      argv0 = 'sh';
    } else {
      const argv = request.argv as [string, ...string[]];
      argv0 = argv[0];
      args = argv.slice(1);
      file = argv0;
      if (this.allowlist) {
        const resolved = this.allowlist.get(argv0);
        if (resolved === undefined) {
          throw new ServiceError(
            'NOT_ALLOWED',
            `"${argv0.slice(0, 64)}" is not on this server's --allow list`,
          );
        }
        file = resolved;
      }
    }
    if (request.cwd !== undefined) {
      const info = await stat(request.cwd).catch(() => undefined);
      if (!info?.isDirectory()) {
        throw new ServiceError('SPAWN_FAILED', 'cwd is not an existing directory');
      }
    }
    const max = this.options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    return {
      file,
      args,
      argv0,
      env,
      cwd: request.cwd,
      timeoutMs: Math.min(request.timeoutMs ?? max, max),
    };
  }
}

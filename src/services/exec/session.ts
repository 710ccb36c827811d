import * as v from 'valibot';
import { LimitError, ServiceError, SockitError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { EnvelopeHeader } from '../../protocol/envelope.js';
import { describeIssue } from '../../protocol/schema-issue.js';
import type { CloseInfo } from '../../transport/connection.js';
import type { ChannelHandlers, EnvelopeChannel } from '../../transport/envelope-channel.js';
import { Command } from './command.js';
import {
  eofSchema,
  runRequestSchema,
  signalSchema,
  stdinSchema,
  type KillReason,
  type OutputStream,
  type RunRequest,
} from './messages.js';

/** What to spawn for an accepted request. */
export interface CommandPlan {
  file: string;
  args: string[];
  argv0: string;
  env: NodeJS.ProcessEnv;
  cwd: string | undefined;
  timeoutMs: number;
}

/** What a session may ask of its server. */
export interface ExecContext {
  log: Logger;
  killGraceMs: number;
  maxOutput: number;
  /** Whether one more command may start (the server-wide concurrency limit). */
  admit(): boolean;
  track(command: Command, running: boolean): void;
  /** Checks a request against the server's policy; throws a ServiceError to refuse it. */
  plan(request: RunRequest): Promise<CommandPlan>;
}

/** A bad request is answered and the connection carries on; only broken framing closes it. */
function badRequest(header: EnvelopeHeader, issue: string): ServiceError {
  return new ServiceError('BAD_REQUEST', `bad "${header.type.slice(0, 32)}": ${issue}`);
}

interface Audit {
  what: string[] | string;
  cwd: string | undefined;
  startedAt: number;
  stdinBytes: number;
  stdoutBytes: number;
  stderrBytes: number;
}

/**
 * One authenticated exec connection: commands one after another, each with
 * its stdin streamed in, its output streamed out, and its end reported.
 */
export class ExecSession {
  private readonly channel: EnvelopeChannel;
  private readonly context: ExecContext;
  private command: Command | undefined;
  private audit: Audit | undefined;
  /** Where the body of the current envelope goes: the command's stdin, or nowhere. */
  private bodyToStdin = false;
  private planning = false;

  constructor(channel: EnvelopeChannel, context: ExecContext) {
    this.channel = channel;
    this.context = context;
  }

  handlers(): ChannelHandlers {
    return {
      header: (header) => {
        this.onHeader(header);
      },
      body: (chunk) => {
        this.onStdin(chunk);
      },
      bodyEnd: () => {
        this.bodyToStdin = false;
      },
      end: () => {
        // A FIN is the client leaving, not the end of stdin (that is `eof`): a
        // half-closed peer can no longer be told apart from a vanished one
        // until a write fails, and a silent command would never write.
        if (this.command?.running) {
          this.command.kill(undefined);
          this.channel.fail(new ServiceError('CONNECTION_CLOSED', 'client closed the connection'));
        } else this.channel.end();
      },
      close: (info) => {
        this.onClose(info);
      },
    };
  }

  private get conn(): EnvelopeChannel['connection'] {
    return this.channel.connection;
  }

  private onHeader(header: EnvelopeHeader): void {
    switch (header.type) {
      case 'run':
        this.onRun(header);
        return;
      case 'stdin': {
        const parsed = v.safeParse(stdinSchema, header);
        if (!parsed.success) throw new ServiceError('BAD_REQUEST', 'bad "stdin" envelope');
        // stdin for a command that was refused or has ended is dropped: it was in flight.
        this.bodyToStdin = this.command?.running === true;
        if (this.audit) this.audit.stdinBytes += parsed.output.size;
        return;
      }
      case 'eof':
        if (!v.safeParse(eofSchema, header).success) {
          this.channel.sendError(badRequest(header, 'no fields expected'));
          return;
        }
        this.command?.endStdin();
        return;
      case 'signal': {
        const parsed = v.safeParse(signalSchema, header);
        if (!parsed.success) {
          this.channel.sendError(badRequest(header, describeIssue(parsed.issues[0])));
          return;
        }
        this.context.log.info({
          event: 'exec_signal',
          conn: this.conn.id,
          remote: this.conn.remote,
          signal: parsed.output.signal,
        });
        this.command?.signal(parsed.output.signal);
        return;
      }
      default:
        if ((header.size ?? 0) > 0) {
          // Its body would be read as envelopes: the stream can no longer be followed.
          throw new ServiceError(
            'BAD_REQUEST',
            `unknown envelope "${header.type.slice(0, 32)}" with a body`,
          );
        }
        this.channel.sendError(badRequest(header, 'unknown type'));
    }
  }

  private onRun(header: EnvelopeHeader): void {
    if (this.command?.running || this.planning) {
      this.channel.sendError(
        new ServiceError('BUSY', 'a command is already running on this connection'),
      );
      return;
    }
    const parsed = v.safeParse(runRequestSchema, header);
    if (!parsed.success) {
      this.channel.sendError(badRequest(header, describeIssue(parsed.issues[0])));
      return;
    }
    if (!this.context.admit()) {
      this.channel.sendError(
        new LimitError('BUSY', 'the server is running as many commands as it may; retry later'),
      );
      return;
    }
    const request = parsed.output;
    // Planning stats the cwd: hold the next envelopes (stdin…) until the command exists.
    this.planning = true;
    this.channel.pause();
    void this.context.plan(request).then(
      (plan) => {
        this.planning = false;
        if (this.conn.isClosed) return;
        this.start(request, plan);
        this.channel.resume();
      },
      (err: unknown) => {
        this.planning = false;
        this.refuse(
          request,
          err instanceof SockitError
            ? err
            : new ServiceError('SPAWN_FAILED', 'cannot run the command'),
        );
        this.channel.resume();
      },
    );
  }

  private refuse(request: RunRequest, error: SockitError): void {
    this.context.log.warn({
      event: 'exec_refused',
      conn: this.conn.id,
      remote: this.conn.remote,
      ...(request.argv ? { argv: request.argv } : { shell: request.shell }),
      code: error.code,
      reason: error.message,
    });
    this.channel.sendError(error);
  }

  private start(request: RunRequest, plan: CommandPlan): void {
    const log = this.context.log;
    const audit: Audit = {
      what: request.argv ?? (request.shell as string),
      cwd: plan.cwd,
      startedAt: performance.now(),
      stdinBytes: 0,
      stdoutBytes: 0,
      stderrBytes: 0,
    };
    this.audit = audit;
    const maxOutput = this.context.maxOutput;
    // A silent command may run far longer than a connection may idle.
    this.conn.setIdleTimeout(0);
    const command: Command = new Command(
      { ...plan, killGraceMs: this.context.killGraceMs },
      {
        started: (pid) => {
          log.info({
            event: 'exec_start',
            conn: this.conn.id,
            remote: this.conn.remote,
            pid,
            ...(request.argv ? { argv: request.argv } : { shell: request.shell }),
            ...(plan.cwd !== undefined ? { cwd: plan.cwd } : {}),
            timeoutMs: plan.timeoutMs,
          });
          this.channel.send({ type: 'started', pid, timeoutMs: plan.timeoutMs });
        },
        output: (stream, chunk) => this.forward(command, audit, stream, chunk, maxOutput),
        failed: (errno, message) => {
          this.finish(command);
          const error =
            errno === 'ENOENT'
              ? new ServiceError(
                  'COMMAND_NOT_FOUND',
                  `${plan.argv0.slice(0, 64)}: command not found`,
                )
              : new ServiceError('SPAWN_FAILED', `${plan.argv0.slice(0, 64)}: ${errno ?? message}`);
          this.refuse(request, error);
        },
        exited: (code, signal, reason) => {
          this.finish(command);
          const durationMs = Math.round(performance.now() - audit.startedAt);
          log.info({
            event: 'exec_exit',
            conn: this.conn.id,
            remote: this.conn.remote,
            ...(typeof audit.what === 'string' ? { shell: audit.what } : { argv: audit.what }),
            code,
            signal,
            ...(reason ? { reason } : {}),
            durationMs,
            stdinBytes: audit.stdinBytes,
            stdoutBytes: audit.stdoutBytes,
            stderrBytes: audit.stderrBytes,
          });
          this.channel.send({
            type: 'exit',
            code,
            signal,
            durationMs,
            ...(reason ? { reason } : {}),
            stdoutBytes: audit.stdoutBytes,
            stderrBytes: audit.stderrBytes,
          });
        },
      },
    );
    this.command = command;
    this.context.track(command, true);
  }

  private finish(command: Command): void {
    this.context.track(command, false);
    this.bodyToStdin = false;
    this.conn.setIdleTimeout(this.conn.limits.idleTimeoutMs);
  }

  /** Sends a piece of output, within the output cap; false pauses the child. */
  private forward(
    command: Command,
    audit: Audit,
    stream: OutputStream,
    chunk: Buffer,
    maxOutput: number,
  ): boolean {
    if (this.conn.isClosed) return true;
    let piece = chunk;
    let over = false;
    if (maxOutput > 0) {
      const room = maxOutput - audit.stdoutBytes - audit.stderrBytes;
      if (room <= 0) return true; // already over and being killed: drop the rest
      if (piece.length > room) {
        piece = piece.subarray(0, room);
        over = true;
      }
    }
    if (stream === 'stdout') audit.stdoutBytes += piece.length;
    else audit.stderrBytes += piece.length;
    const ok = this.channel.send({ type: stream, size: piece.length }, piece);
    if (over) {
      command.kill('OUTPUT_LIMIT' satisfies KillReason);
      return true;
    }
    if (!ok) {
      // The client reads slower than the command writes: the command waits.
      void this.channel.drained().then(() => {
        command.resumeOutput();
      });
    }
    return ok;
  }

  private onStdin(chunk: Buffer): void {
    const command = this.command;
    if (!this.bodyToStdin || !command) return;
    if (!command.writeStdin(chunk)) {
      this.channel.pause();
      command.onStdinDrain(() => {
        this.channel.resume();
      });
    }
  }

  private onClose(info: CloseInfo): void {
    const command = this.command;
    if (command?.running) {
      // No one to report to: end the whole group (SPEC §2.3).
      this.context.log.warn({
        event: 'exec_disconnect',
        conn: this.conn.id,
        remote: this.conn.remote,
        pid: command.pid,
        ...(info.error ? { code: info.error.code } : {}),
      });
      command.kill(undefined);
    }
  }
}

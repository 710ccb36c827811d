import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { KillReason, OutputStream } from './messages.js';

/** What a command reports while it runs. */
export interface CommandEvents {
  /** The process exists (its pid is also its process group id). */
  started(pid: number): void;
  /** Bytes from stdout or stderr. Return false to pause both until `resumeOutput()`. */
  output(stream: OutputStream, chunk: Buffer): boolean;
  /** It could not be started: `errno` is ENOENT, EACCES… */
  failed(errno: string | undefined, message: string): void;
  /** It ended and both pipes are drained. */
  exited(code: number | null, signal: NodeJS.Signals | null, reason: KillReason | undefined): void;
}

export interface CommandSpec {
  file: string;
  args: readonly string[];
  /** argv[0] as the program sees it (the allowlist may resolve `file` to a full path). */
  argv0: string;
  cwd: string | undefined;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** SIGTERM first; SIGKILL this long after (ms). */
  killGraceMs: number;
}

/**
 * One child process in a process group of its own (`detached`), so that
 * killing it kills what it started too: `sh -c 'sleep 100 & wait'` leaves
 * nothing behind. No shell is involved unless `file` is one.
 *
 * When the command exits, whatever is left in its group is killed: a
 * background grandchild holding the pipes open would otherwise keep the
 * command "running" forever (the policy of systemd's KillMode=control-group).
 */
export class Command {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly events: CommandEvents;
  private readonly killGraceMs: number;
  private timer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private reason: KillReason | undefined;
  private exited = false;
  private stdinOpen = true;

  constructor(spec: CommandSpec, events: CommandEvents) {
    this.events = events;
    this.killGraceMs = spec.killGraceMs;
    this.child = spawn(spec.file, spec.args, {
      argv0: spec.argv0,
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: 'pipe',
      windowsHide: true,
    });
    const child = this.child;
    child.on('spawn', () => {
      events.started(child.pid as number);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      // Only a failed spawn reports here (kill() of a dead group is guarded below).
      if (child.pid === undefined && !this.exited) {
        this.exited = true;
        this.clearTimers();
        events.failed(err.code, err.message);
      }
    });
    child.stdin.on('error', () => {
      // EPIPE: the command exited or closed stdin without reading it all.
      this.stdinOpen = false;
    });
    this.pipe(child.stdout, 'stdout');
    this.pipe(child.stderr, 'stderr');
    child.on('exit', () => {
      // Stragglers in the group would hold the pipes open: end them now.
      this.killGroup('SIGKILL');
    });
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (this.exited) return;
      this.exited = true;
      this.clearTimers();
      events.exited(code, signal, this.reason);
    });
    if (spec.timeoutMs > 0) {
      this.timer = setTimeout(() => {
        this.kill('COMMAND_TIMEOUT');
      }, spec.timeoutMs);
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Feeds stdin; false means wait for `onStdinDrain` before writing more. */
  writeStdin(chunk: Buffer): boolean {
    if (!this.stdinOpen || this.exited) return true; // nobody reads it any more: drop
    return this.child.stdin.write(chunk);
  }

  onStdinDrain(listener: () => void): void {
    if (!this.stdinOpen || this.exited) {
      listener();
      return;
    }
    const done = (): void => {
      this.child.stdin.off('drain', done);
      this.child.off('close', done);
      listener();
    };
    this.child.stdin.on('drain', done);
    this.child.on('close', done);
  }

  endStdin(): void {
    if (this.stdinOpen) this.child.stdin.end();
    this.stdinOpen = false;
  }

  resumeOutput(): void {
    this.child.stdout.resume();
    this.child.stderr.resume();
  }

  /** Sends `signal` to the whole process group. */
  signal(signal: NodeJS.Signals): void {
    if (!this.exited) this.killGroup(signal);
  }

  /** Ends the group: SIGTERM, then SIGKILL after the grace period. */
  kill(reason: KillReason | undefined): void {
    if (this.exited || this.killTimer) return;
    this.reason ??= reason;
    this.killGroup('SIGTERM');
    this.killTimer = setTimeout(() => {
      this.killGroup('SIGKILL');
    }, this.killGraceMs);
  }

  private pipe(stream: Readable, name: OutputStream): void {
    stream.on('data', (chunk: Buffer) => {
      if (!this.events.output(name, chunk)) {
        this.child.stdout.pause();
        this.child.stderr.pause();
      }
    });
  }

  private killGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already empty.
    }
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.killTimer) clearTimeout(this.killTimer);
    this.timer = undefined;
    this.killTimer = undefined;
  }
}

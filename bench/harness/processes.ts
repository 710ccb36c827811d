/**
 * Child processes of a bench: compiled bench children driven over IPC, the
 * CLI's `sockit serve` as users run it, outside peers (socat, ncat, …), and
 * what /proc says about each (CPU time, RSS). Every child is remembered so a
 * bench that fails half-way kills them all (`killChildren`).
 */
import {
  fork,
  spawn,
  type ChildProcess,
  type ChildProcessByStdio,
  type SpawnOptions,
} from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type {
  IdleCheckResult,
  IdleOpenResult,
  LoadCommand,
  LoadReply,
  RunResult,
  RunSpec,
} from '../protocol.js';

/** The repository root: children run there (dist/ is relative to it). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** bench/, where the child sources live. */
export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
/** Where benches write raw results and compiled children (git-ignored). */
export const RESULTS_DIR = join(ROOT, '.bench-results');
/** The built CLI (`npm run build`); SOCKIT_CLI runs another build. */
export const CLI = process.env.SOCKIT_CLI ?? join(ROOT, 'dist', 'cli', 'main.js');

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/**
 * Compiles a bench's child-process sources (paths relative to `benchDir`) to
 * plain JS in `jsDir`, so the children run on plain node with no TypeScript
 * loader: a loader (tsx) also rewrites the imported dist/ modules, turning
 * every cross-module call into a getter call, and runs a loader thread in each
 * process. Type erasure only; `npm run typecheck` checks the sources.
 */
export async function compileChildren(
  benchDir: string,
  jsDir: string,
  files: readonly string[],
): Promise<void> {
  const ts = (await import('typescript')).default;
  for (const file of files) {
    const source = await readFile(`${benchDir}${file}`, 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    });
    const out = `${jsDir}/${file.replace(/\.ts$/, '.js')}`;
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, outputText);
  }
}

/**
 * Waits for the next IPC message from `child` that `pick` accepts. Fails if
 * the child exits first or nothing comes within `timeoutMs`: a bench that
 * hangs is worse than one that stops with an error.
 */
export function nextMessage<T>(
  child: ChildProcess,
  pick: (message: unknown) => T | undefined,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown): void => {
      const picked = pick(message);
      if (picked === undefined) return;
      cleanup();
      resolve(picked);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`${what}: child exited (${code ?? 'signal'})`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

const children = new Set<ChildProcess>();

/** Forks a compiled bench child (IPC on fd 3), remembered for `killChildren`. */
export function spawnChild(
  script: string,
  args: string[],
  extraExecArgv: string[] = [],
): ChildProcess {
  const child = fork(script, args, {
    cwd: ROOT,
    execArgv: ['--expose-gc', ...extraExecArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Kills every child still running (a bench that failed half-way). */
export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}

/** Kills the children when the bench is interrupted (Ctrl-C). */
export function killChildrenOnInterrupt(): void {
  process.on('SIGINT', () => {
    killChildren();
    process.exit(130);
  });
}

/** Spawns a program (a peer such as socat), remembered for `killChildren`. */
export function spawnTracked(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  const child = spawn(command, args, { cwd: ROOT, stdio: 'ignore', ...options });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Stops a child with SIGTERM (SIGKILL after `graceMs`) and waits for it to exit. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export type ServeProcess = ChildProcessByStdio<null, Readable, null>;

/**
 * `sockit serve ARGS --port 0` through the built CLI, as users run it; resolves
 * once its `ready` log line names the TCP (or the web gateway's HTTP) port. The log keeps draining so the
 * server never blocks on a full pipe.
 */
export async function startServe(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = [],
): Promise<{ child: ServeProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [...execArgv, CLI, 'serve', ...args, '--port', '0', '--log-level', 'info'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env },
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    let record: { event?: string; services?: { addresses: string[] }[] };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      continue;
    }
    if (record.event === 'ready') {
      const address =
        record.services
          ?.flatMap((s) => s.addresses)
          .find((a) => a.startsWith('tcp ') || /^https? /.test(a)) ?? '';
      child.stdout.resume();
      return { child, port: Number(address.slice(address.lastIndexOf(':') + 1)) };
    }
  }
  throw new Error(`sockit serve ${args.join(' ')} exited before ready`);
}

/** Clock ticks per second of /proc/PID/stat times (USER_HZ; 100 on Linux). */
export const TICKS_PER_SECOND = 100;

/** User + system CPU time of a process so far (ms), from /proc/PID/stat. */
export async function processCpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) throw new Error('process has no pid');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** Resident set size of a process (KiB), from /proc/PID/status; `peak` reads VmHWM. */
export async function processRssKiB(pid: number | undefined, peak = false): Promise<number> {
  if (pid === undefined) throw new Error('process has no pid');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = (peak ? /^VmHWM:\s+(\d+)\s+kB$/m : /^VmRSS:\s+(\d+)\s+kB$/m).exec(status);
  if (!match?.[1]) throw new Error('no VmRSS in /proc status');
  return Number(match[1]);
}

/** The load generator child (bench/loadgen.ts, compiled), driven over IPC. */
export class LoadGenerator {
  private readonly child: ChildProcess;

  constructor(script: string) {
    this.child = spawnChild(script, []);
  }

  /** The child's pid, to read its CPU time. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private async ask(command: LoadCommand): Promise<LoadReply> {
    const reply = nextMessage(this.child, (m) => m as LoadReply, command.cmd);
    this.child.send(command);
    const answer = await reply;
    if (!answer.ok) throw new Error(`load generator: ${answer.error}`);
    return answer;
  }

  async run(spec: RunSpec): Promise<RunResult> {
    const reply = await this.ask({ cmd: 'run', spec });
    if (!('result' in reply)) throw new Error('load generator: unexpected reply');
    return reply.result;
  }

  async idleOpen(port: number, connections: number): Promise<IdleOpenResult> {
    const reply = await this.ask({ cmd: 'idle-open', port, connections, frameSize: 64 });
    if (!('idleOpen' in reply)) throw new Error('load generator: unexpected reply');
    return reply.idleOpen;
  }

  async idleCheck(): Promise<IdleCheckResult> {
    const reply = await this.ask({ cmd: 'idle-check' });
    if (!('idleCheck' in reply)) throw new Error('load generator: unexpected reply');
    return reply.idleCheck;
  }

  async idleClose(): Promise<void> {
    await this.ask({ cmd: 'idle-close' });
  }

  async exit(): Promise<void> {
    const exited = once(this.child, 'exit');
    this.child.send({ cmd: 'exit' } satisfies LoadCommand);
    await exited;
  }
}

/**
 * Starts a compiled bench server (`script` under .bench-results/js, e.g.
 * `chat/server.js`) with `args`; resolves once it prints its one JSON line
 * `{"port":PORT}`. `profDir`: write a .cpuprofile there.
 */
export async function startBenchServer(
  script: string,
  args: readonly string[],
  profDir?: string,
): Promise<{ child: ChildProcess; port: number }> {
  const prof = profDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const child = spawn(process.execPath, [...prof, join(RESULTS_DIR, 'js', script), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const lines = createInterface({ input: child.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  return { child, port: (JSON.parse(first) as { port: number }).port };
}

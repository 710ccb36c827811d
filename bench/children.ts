import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  IdleCheckResult,
  IdleOpenResult,
  LoadCommand,
  LoadReply,
  RunResult,
  RunSpec,
} from './protocol.js';

/** The repository root: children run there (dist/ is relative to it). */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

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

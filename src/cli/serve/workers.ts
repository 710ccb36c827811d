// `sockit serve --workers N` (N > 1): N processes on one machine through
// node:cluster. The primary checks the command line once, forks N workers and
// serves none of the sockets itself; each worker runs the normal serve loop
// (run.ts). node:cluster shares each TCP listener among the workers (the
// primary accepts and hands connections out round-robin), so the workers end
// up on the same ports, port 0 included (the nth listener of every worker is
// the same shared one).
//
// - UDP (echo's and time's datagrams) is served by worker 1 alone: a cluster
//   shares a UDP socket between workers as one handle, not round-robin, so
//   datagrams would go to whichever worker the kernel wakes, with nothing
//   gained; and each datagram service is one short reply, cheap on one core.
// - Files is not served by workers (see workerServices).
// - Chat: without --cluster, the primary runs a ChatHub and each worker's chat
//   talks to it over IPC (an IpcChatBus): one chat across the workers. With
//   --cluster redis://…, the workers are Redis-bus nodes like any other.
// - One `ready` line, the primary's, once every worker is ready.
// - A worker that dies is started again after 100 ms, doubling to 5 s; more
//   than 10 restarts within 60 s and the primary gives up (stops the rest,
//   exit 1). A worker that dies before all were ready stops the start
//   (what failed once — a port in use, a bad file — fails again).
// - SIGINT/SIGTERM on the primary: every worker is told to stop, closes its
//   services gracefully and exits; then the primary exits 0.
import cluster, { type Worker } from 'node:cluster';
import * as v from 'valibot';
import { UsageError, silentLogger, type Logger } from '../../core.js';
import { ChatHub, type IpcEndpoint } from '../../services/chat/internal.js';
import { createLogger } from '../log.js';
import { EXIT_FAILURE, EXIT_OK, Output } from '../output.js';
import {
  WORKER_RESTART_LIMIT,
  WORKER_RESTART_MAX_MS,
  WORKER_RESTART_MIN_MS,
  WORKER_RESTART_WINDOW_MS,
  WORKER_STOP_TIMEOUT_MS,
} from './limits.js';
import { baseAddress, type ServeOptions } from './options.js';
import { serverToken } from './policy.js';
import { chosenServices, describe, prepare, startServices, untilStopped } from './run.js';
import { SERVICES, type ServiceEntry } from './services.js';

/** Which worker a process is (1..N), in its environment; a restarted worker keeps its number. */
const WORKER_ENV = 'SOCKIT_WORKER';

/** The CLI's own IPC (beside the chat bus's `ch: 'chat'`). */
const CONTROL = 'serve';

const controlSchema = v.variant('kind', [
  v.object({
    ch: v.literal(CONTROL),
    kind: v.literal('ready'),
    services: v.pipe(
      v.array(
        v.object({
          name: v.pipe(v.string(), v.maxLength(64)),
          addresses: v.pipe(v.array(v.pipe(v.string(), v.maxLength(1024))), v.maxLength(64)),
        }),
      ),
      v.maxLength(64),
    ),
  }),
  v.object({ ch: v.literal(CONTROL), kind: v.literal('stop') }),
]);
type Control = v.InferOutput<typeof controlSchema>;
type ReadyServices = Extract<Control, { kind: 'ready' }>['services'];

function parseControl(raw: unknown): Control | undefined {
  if (typeof raw !== 'object' || raw === null || (raw as { ch?: unknown }).ch !== CONTROL) {
    return undefined; // the chat bus's, or nobody's
  }
  const r = v.safeParse(controlSchema, raw);
  return r.success ? r.output : undefined;
}

export async function serveWorkers(names: string[], options: ServeOptions): Promise<void> {
  if (cluster.isPrimary) process.exitCode = await primary(names, options);
  else await worker(names, options);
}

// ---- the primary -------------------------------------------------------------

/**
 * The services N workers run: every one but files. An upload's claim on its
 * name and the --max-total reservations are one process's memory, so two
 * workers could write one partial file at once and commit a broken file.
 * Named, files is refused; in a plain `sockit serve --workers N` it is left
 * out with a warning (serve it in its own process: `sockit serve files`).
 */
function workerServices(names: readonly string[], workers: number): string[] {
  if (names.includes('files')) {
    throw new UsageError(
      'BAD_OPTION',
      `--workers ${workers} cannot serve files: an upload's claim on its name is kept per process, so two workers could write one file at once (run \`sockit serve files\` in a process of its own)`,
    );
  }
  return chosenServices(names).filter((name) => name !== 'files');
}

async function primary(names: string[], options: ServeOptions): Promise<number> {
  const chosen = workerServices(names, options.workers);
  for (const name of chosen) {
    const entry = SERVICES[name] as ServiceEntry;
    if (baseAddress(entry.defaultPort, options, chosen.length === 1).kind === 'unix') {
      throw new UsageError(
        'BAD_OPTION',
        `--workers ${options.workers} needs host:port addresses: workers share TCP ports, not a Unix socket (use --workers 1 with unix:)`,
      );
    }
  }
  // Checked here once, so a mistake is one message before any worker starts;
  // the TLS identity and the token are created here, not raced by N workers.
  const checked: ServeOptions = { ...options };
  await prepare(chosen, checked, silentLogger);
  if (chosen.includes('exec')) {
    await serverToken(options, silentLogger);
  }
  const logger = createLogger({ level: options.logLevel });
  if (names.length === 0) {
    logger.warn({
      event: 'files_not_served',
      why: 'not with --workers: run `sockit serve files` on its own',
    });
  }
  const chat = chosen.includes('chat') || chosen.includes('web');
  const hub = chat && checked.clusterBus === undefined ? new ChatHub({ logger }) : undefined;
  return new Primary(options.workers, logger, hub).run({
    event: 'workers',
    count: options.workers,
    ...(chat ? { chat: hub !== undefined ? 'hub' : 'redis' } : {}),
  });
}

interface Slot {
  /** 1..N: what the worker is told (worker 1 serves UDP). */
  index: number;
  worker: Worker | undefined;
  /** What the current worker said it serves, once it is ready. */
  services: ReadyServices | undefined;
  /** When this slot's worker was restarted, within the window. */
  restarts: number[];
  timer: NodeJS.Timeout | undefined;
}

function endpointOf(worker: Worker): IpcEndpoint {
  return {
    // A channel whose worker just died fails with EPIPE: with a callback that is
    // an argument, not an 'error' event (uncaught, it would end the primary).
    send: (message, written) =>
      worker.send(message as object, undefined, undefined, () => written?.()),
    on: (event: string, listener: (message: unknown) => void) => worker.on(event, listener),
    off: (event: string, listener: (message: unknown) => void) => worker.off(event, listener),
    isConnected: () => worker.isConnected(),
    // The hub gave up on it (it stopped reading): its exit restarts it, as a crash does.
    kill: () => worker.process.kill('SIGKILL'),
  };
}

class Primary {
  private readonly slots: Slot[];
  private stopping = false;
  private ready = false;
  /** Restarts of every slot, within the window. */
  private restarts: number[] = [];
  private exitCode = EXIT_OK;
  private stopTimer: NodeJS.Timeout | undefined;
  private finish: ((code: number) => void) | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (!this.stopping) {
      this.stop(signal);
      return;
    }
    this.log.warn({ event: 'forced_exit', signal });
    for (const w of this.live()) w.process.kill('SIGKILL');
    process.exit(130);
  };

  constructor(
    count: number,
    private readonly log: Logger,
    private readonly hub: ChatHub | undefined,
  ) {
    this.slots = Array.from({ length: count }, (_, i) => ({
      index: i + 1,
      worker: undefined,
      services: undefined,
      restarts: [],
      timer: undefined,
    }));
  }

  /** Forks the workers; `starting` is logged once a signal can no longer end the primary unheard. */
  run(starting: Record<string, unknown>): Promise<number> {
    return new Promise((resolve) => {
      this.finish = resolve;
      process.on('SIGINT', this.onSignal);
      process.on('SIGTERM', this.onSignal);
      this.log.info(starting);
      for (const slot of this.slots) this.fork(slot);
    });
  }

  private fork(slot: Slot): void {
    slot.timer = undefined;
    slot.services = undefined;
    const worker = cluster.fork({ [WORKER_ENV]: String(slot.index) });
    slot.worker = worker;
    // The primary must outlive any worker: an IPC write to one that just died is not fatal.
    worker.on('error', (err: Error) => {
      this.log.debug({ event: 'worker_ipc_error', worker: slot.index, err: err.message });
    });
    this.hub?.attach(worker.id, endpointOf(worker));
    worker.on('message', (raw: unknown) => {
      this.control(slot, worker, raw);
    });
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      this.exited(slot, worker, code, signal);
    });
  }

  private control(slot: Slot, worker: Worker, raw: unknown): void {
    const m = parseControl(raw);
    if (m?.kind !== 'ready' || slot.worker !== worker) return;
    slot.services = m.services;
    this.log.info({ event: 'worker_ready', worker: slot.index, workerPid: worker.process.pid });
    if (this.ready || this.stopping || !this.slots.every((s) => s.services !== undefined)) return;
    this.ready = true;
    // The one `ready` line: worker 1's addresses (the TCP ports are every worker's; UDP is its own).
    this.log.info({ event: 'ready', services: this.slots[0]?.services ?? [] });
  }

  private exited(
    slot: Slot,
    worker: Worker,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    this.hub?.detach(worker.id);
    if (slot.worker === worker) {
      slot.worker = undefined;
      slot.services = undefined;
    }
    if (this.stopping) {
      this.done();
      return;
    }
    const workerPid = worker.process.pid;
    this.log.warn({ event: 'worker_exit', worker: slot.index, workerPid, code, signal });
    if (!this.ready) {
      // It said why on stderr; what failed once at start (a port in use, a bad file) fails again.
      this.exitCode = code !== null && code !== 0 ? code : EXIT_FAILURE;
      this.stop('worker_failed');
      return;
    }
    const now = Date.now();
    const recent = (t: number): boolean => now - t < WORKER_RESTART_WINDOW_MS;
    this.restarts = this.restarts.filter(recent);
    if (this.restarts.length >= WORKER_RESTART_LIMIT) {
      this.log.error({
        event: 'workers_give_up',
        restarts: this.restarts.length,
        windowMs: WORKER_RESTART_WINDOW_MS,
      });
      this.exitCode = EXIT_FAILURE;
      this.stop('give_up');
      return;
    }
    this.restarts.push(now);
    slot.restarts = slot.restarts.filter(recent);
    const delay = Math.min(
      WORKER_RESTART_MIN_MS * 2 ** slot.restarts.length,
      WORKER_RESTART_MAX_MS,
    );
    slot.restarts.push(now);
    this.log.info({ event: 'worker_restart', worker: slot.index, inMs: delay });
    slot.timer = setTimeout(() => {
      this.fork(slot);
    }, delay);
  }

  private live(): Worker[] {
    return this.slots.flatMap((s) => (s.worker !== undefined ? [s.worker] : []));
  }

  /** Tells every worker to stop; those still there after the timeout are killed. */
  private stop(why: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ event: 'shutdown', signal: why });
    for (const slot of this.slots) clearTimeout(slot.timer);
    this.hub?.stop();
    for (const slot of this.slots) {
      const w = slot.worker;
      if (w === undefined) continue;
      // A worker that has said ready listens for `stop` (and may have had a SIGINT from the
      // terminal already: a signal now would be its second, a forced exit). One still
      // loading may not listen yet, and a message nobody listens for is lost: SIGTERM
      // ends it (it has no users), or stops it gracefully if its handlers are in place.
      if (slot.services !== undefined && w.isConnected())
        w.send({ ch: CONTROL, kind: 'stop' }, undefined, undefined, () => undefined);
      else w.process.kill('SIGTERM');
    }
    this.stopTimer = setTimeout(() => {
      for (const w of this.live()) {
        this.log.warn({ event: 'worker_killed', workerPid: w.process.pid });
        w.process.kill('SIGKILL');
      }
    }, WORKER_STOP_TIMEOUT_MS);
    this.done();
  }

  /** Once stopping and every worker has exited: the primary is done. */
  private done(): void {
    if (!this.stopping || this.live().length > 0) return;
    clearTimeout(this.stopTimer);
    this.hub?.close();
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    this.finish?.(this.exitCode);
    this.finish = undefined;
  }
}

// ---- a worker ----------------------------------------------------------------

async function worker(names: string[], options: ServeOptions): Promise<void> {
  const index = Number(process.env[WORKER_ENV] ?? '0');
  const logger = createLogger({ level: options.logLevel }).child({ worker: index });
  // Listened for from the start: a stop may come while the services are starting.
  let stopNow: ((why: string) => void) | undefined;
  let stopAsked = false;
  process.on('message', (raw: unknown) => {
    if (parseControl(raw)?.kind !== 'stop') return;
    stopAsked = true;
    stopNow?.('stop');
  });
  try {
    const chosen = workerServices(names, options.workers);
    if (index !== 1) options.udp = false; // UDP is worker 1's (see the top of this file)
    await prepare(chosen, options, logger);
    if (options.clusterBus === undefined) options.ipcBus = true;
    const running = await startServices(chosen, options, logger);
    await untilStopped(
      running,
      logger,
      () => {
        process.send?.(
          { ch: CONTROL, kind: 'ready', services: describe(running) },
          undefined,
          undefined,
          () => undefined,
        );
      },
      (stop) => {
        stopNow = stop;
        if (stopAsked) stop('stop');
      },
    );
    process.exit(EXIT_OK);
  } catch (err) {
    // The IPC channel keeps a worker alive: it ends itself, with the code the error deserves.
    process.exit(new Output(false).error(err));
  }
}

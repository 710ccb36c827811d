// `sockit serve`: a loop over services — check the policy, start each, log
// `ready`, and close them all on SIGINT/SIGTERM. With --workers N (N > 1),
// workers.ts runs this same loop in N cluster workers instead.
import { UsageError, type Logger, type Service } from '../../core.js';
import { createLogger } from '../log.js';
import { EXIT_OK } from '../output.js';
import { baseAddress, type ServeOptions } from './options.js';
import { clusterConfig } from './cluster.js';
import { securityPolicy } from './policy.js';
import { SERVICES, SERVICE_NAMES, type ServiceEntry } from './services.js';

export async function serve(names: string[], options: ServeOptions): Promise<void> {
  if (options.workers > 1) {
    // Loaded only then: one process (the default) runs no cluster code at all.
    const { serveWorkers } = await import('./workers.js');
    await serveWorkers(names, options);
    return;
  }
  const chosen = chosenServices(names);
  const logger = createLogger({ level: options.logLevel });
  await prepare(chosen, options, logger);
  const running = await startServices(chosen, options, logger);
  await untilStopped(running, logger, () => {
    // Only now: a supervisor may signal us as soon as it reads `ready`.
    logger.info({ event: 'ready', services: describe(running) });
  });
  process.exitCode = EXIT_OK;
}

/** The services named (all of them when none is), each checked to exist. */
export function chosenServices(names: readonly string[]): string[] {
  const chosen = names.length > 0 ? [...names] : SERVICE_NAMES;
  for (const name of chosen) {
    if (!(name in SERVICES)) {
      throw new UsageError(
        'BAD_OPTION',
        `unknown service "${name}" (available: ${SERVICE_NAMES.join(', ')})`,
      );
    }
  }
  return chosen;
}

/** What `ready` says of each service. */
export function describe(running: readonly Service[]): { name: string; addresses: string[] }[] {
  return running.map((s) => ({ name: s.name, addresses: s.addresses }));
}

/** The security policy (TLS identity) and the cluster settings, into `options`. */
export async function prepare(
  chosen: readonly string[],
  options: ServeOptions,
  logger: Logger,
): Promise<void> {
  const tls = await securityPolicy(chosen, options, logger);
  if (tls !== undefined) options.tlsServer = tls;
  if (chosen.includes('chat') || chosen.includes('web')) {
    const cluster = await clusterConfig(options.cluster, options.clusterPasswordFile);
    if (cluster !== undefined) {
      options.clusterBus = {
        url: cluster.url,
        ...(cluster.password !== undefined ? { password: cluster.password } : {}),
      };
      logger.info({ event: 'cluster', redis: cluster.display });
    }
  }
}

/** Starts each service in order; if one fails, those started are closed again. */
export async function startServices(
  chosen: readonly string[],
  options: ServeOptions,
  logger: Logger,
): Promise<Service[]> {
  const running: Service[] = [];
  try {
    for (const name of chosen) {
      const entry = SERVICES[name] as ServiceEntry;
      running.push(
        await entry.start(
          baseAddress(entry.defaultPort, options, chosen.length === 1),
          options,
          logger,
          running,
        ),
      );
    }
  } catch (err) {
    await Promise.all(running.map((s) => s.close()));
    throw err;
  }
  return running;
}

/**
 * Runs until SIGINT/SIGTERM (or `stopOn` calls its argument), then closes
 * every service; a second signal exits at once. `ready` is called once the
 * handlers are in place.
 */
export function untilStopped(
  running: readonly Service[],
  logger: Logger,
  ready: () => void,
  stopOn?: (stop: (why: string) => void) => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: 'shutdown', signal: why });
      void Promise.all(running.map((s) => s.close())).then(() => {
        resolve();
      });
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ event: 'forced_exit', signal });
        process.exit(130);
      }
      stop(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    stopOn?.(stop);
    ready();
  });
}

// `sockit serve`: a loop over services — check the policy, start each, log
// `ready`, and close them all on SIGINT/SIGTERM.
import { UsageError, type Service } from '../../core.js';
import { createLogger } from '../log.js';
import { EXIT_OK } from '../output.js';
import { baseAddress, type ServeOptions } from './options.js';
import { clusterConfig } from './cluster.js';
import { securityPolicy } from './policy.js';
import { SERVICES, SERVICE_NAMES, type ServiceEntry } from './services.js';

export async function serve(names: string[], options: ServeOptions): Promise<void> {
  const chosen = names.length > 0 ? names : SERVICE_NAMES;
  for (const name of chosen) {
    if (!(name in SERVICES)) {
      throw new UsageError(
        'BAD_OPTION',
        `unknown service "${name}" (available: ${SERVICE_NAMES.join(', ')})`,
      );
    }
  }
  const logger = createLogger({ level: options.logLevel });
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
  const running: Service[] = [];
  const stopAll = (): Promise<unknown> => Promise.all(running.map((s) => s.close()));
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
    await stopAll();
    throw err;
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ event: 'forced_exit', signal });
        process.exit(130);
      }
      stopping = true;
      logger.info({ event: 'shutdown', signal });
      void stopAll().then(() => {
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // Only now: a supervisor may signal us as soon as it reads `ready`.
    logger.info({
      event: 'ready',
      services: running.map((s) => ({ name: s.name, addresses: s.addresses })),
    });
  });
  process.exitCode = EXIT_OK;
}

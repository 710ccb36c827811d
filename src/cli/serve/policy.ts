// What `sockit serve` refuses or sets up before any service starts: exec and
// files in clear off loopback, the TLS identity, the shared token.
import {
  UsageError,
  ensureServerIdentity,
  ensureToken,
  type Logger,
  type TlsServerConfig,
} from '../../core.js';
import { isLoopbackHost } from '../../internal.js';
import type { ServeOptions } from './options.js';

/**
 * The token of exec and files: --token-file, SOCKIT_TOKEN, or the file in the
 * config directory, created on first use. Logged by where it is, never by value.
 */
export async function serverToken(options: ServeOptions, logger: Logger): Promise<string> {
  const found = await ensureToken(
    options.tokenFile !== undefined ? { file: options.tokenFile } : {},
  );
  logger.info({ event: 'token', origin: found.origin, created: found.created });
  return found.token;
}

/**
 * Refuses what would be unsafe to serve, and loads the TLS identity when
 * --tls is on (logged by fingerprint). Returns the TLS config for listeners.
 */
export async function securityPolicy(
  chosen: readonly string[],
  options: ServeOptions,
  logger: Logger,
): Promise<TlsServerConfig | undefined> {
  // exec and files carry commands and files: across a network, only inside TLS.
  if (!options.tls && !options.insecurePlaintext && !isLoopbackHost(options.host)) {
    const exposed = chosen.filter((n) => n === 'exec' || n === 'files');
    if (exposed.length > 0) {
      throw new UsageError(
        'TLS_REQUIRED',
        `${exposed.join(' and ')} on ${options.host} would send commands and files in clear: add --tls (or --insecure-plaintext)`,
      );
    }
  }
  if (options.tls) {
    const identity = await ensureServerIdentity({
      ...(options.cert !== undefined ? { cert: options.cert } : {}),
      ...(options.key !== undefined ? { key: options.key } : {}),
    });
    logger.info({
      event: 'tls',
      fingerprint: identity.fingerprint,
      origin: identity.origin,
      created: identity.created,
    });
    return { cert: identity.cert, key: identity.key };
  } else if (options.cert !== undefined || options.key !== undefined) {
    throw new UsageError('BAD_OPTION', '--cert and --key need --tls');
  }
  return undefined;
}

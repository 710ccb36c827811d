import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { UsageError, trustPolicy, type TlsClientConfig } from '../core.js';

/** The client-side TLS flags every TCP client takes. */
export interface TlsCliOptions {
  tls?: boolean;
  ca?: string;
  fingerprint?: string;
  trustOnFirstUse?: boolean;
  knownHosts?: string;
  servername?: string;
}

export function addTlsClientOptions(command: Command): Command {
  return command
    .option('--tls', 'speak TLS (implied by the options below)')
    .option('--ca <file>', 'TLS: also trust the CA certificates in this PEM file')
    .option(
      '--fingerprint <sha256>',
      'TLS: accept exactly the server certificate with this SHA-256 fingerprint (as `serve --tls` logs it)',
    )
    .option(
      '--trust-on-first-use',
      "TLS: accept a self-signed server seen for the first time and remember it (like ssh's first connection)",
    )
    .option(
      '--known-hosts <file>',
      'TLS: remembered fingerprints (default ~/.config/sockit/known_hosts)',
    )
    .option('--servername <name>', 'TLS: the name sent (SNI) and checked (default: the host name)');
}

/** The TLS client config the flags ask for, or undefined for plain TCP. */
export async function tlsClientConfig(
  options: TlsCliOptions,
): Promise<TlsClientConfig | undefined> {
  const wanted =
    options.tls === true ||
    options.ca !== undefined ||
    options.fingerprint !== undefined ||
    options.trustOnFirstUse === true;
  if (!wanted) return undefined;
  let ca: string | undefined;
  if (options.ca !== undefined) {
    try {
      ca = await readFile(options.ca, 'utf8');
    } catch (err) {
      throw new UsageError('BAD_OPTION', `--ca: cannot read ${options.ca}`, { cause: err });
    }
  }
  return trustPolicy({
    ...(ca !== undefined ? { ca } : {}),
    ...(options.fingerprint !== undefined ? { fingerprint: options.fingerprint } : {}),
    ...(options.trustOnFirstUse === true ? { trustOnFirstUse: true } : {}),
    ...(options.knownHosts !== undefined ? { knownHostsFile: options.knownHosts } : {}),
    ...(options.servername !== undefined ? { servername: options.servername } : {}),
    onRemembered: (target, fingerprint, file) => {
      process.stderr.write(
        `sockit: trusting ${target} on first use: ${fingerprint} (remembered in ${file})\n`,
      );
    },
  });
}

/** `{ tls }` to spread into client options, or nothing. */
export async function tlsOption(options: TlsCliOptions): Promise<{ tls?: TlsClientConfig }> {
  const tls = await tlsClientConfig(options);
  return tls ? { tls } : {};
}

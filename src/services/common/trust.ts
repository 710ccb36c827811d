import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { NetworkError, UsageError } from '../../errors.js';
import {
  isUntrustedIssuer,
  normalizeFingerprint,
  untrustedError,
  type TlsClientConfig,
  type TlsPeer,
} from '../../transport/tls.js';
import { defaultKnownHostsPath } from './paths.js';

/** How a client decides to trust a server's certificate: CA, pinned fingerprint, trust on first use, known-hosts file. */
export interface TrustOptions {
  /** Extra CA certificates (PEM text). */
  ca?: string;
  /** Accept exactly this certificate (`SHA256:…`, colons and case optional). */
  fingerprint?: string;
  /** Accept and remember a self-signed server seen for the first time. */
  trustOnFirstUse?: boolean;
  /** @default ~/.config/sockit/known_hosts */
  knownHostsFile?: string;
  /** Told when a fingerprint is remembered, so the CLI can say so. */
  onRemembered?: (target: string, fingerprint: string, file: string) => void;
  servername?: string;
}

/** `host:port SHA256:…` lines; `#` comments and blank lines are skipped. */
export async function readKnownHosts(file: string): Promise<Map<string, string>> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const known = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [target, fingerprint] = line.trim().split(/\s+/);
    if (!target || target.startsWith('#') || fingerprint === undefined) continue;
    const normal = normalizeFingerprint(fingerprint);
    if (normal) known.set(target, normal);
  }
  return known;
}

async function remember(file: string, target: string, fingerprint: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await appendFile(file, `${target} ${fingerprint}\n`, { mode: 0o600 });
}

/**
 * ssh-like trust for TLS clients: a certificate a CA vouches for (system CAs
 * or `ca`) is accepted; a self-signed one only by its fingerprint — given
 * with `fingerprint`, remembered in the known-hosts file, or, with
 * `trustOnFirstUse`, remembered now. A remembered fingerprint that changed is
 * refused loudly with both values. Expired or wrong-host certificates are
 * refused whatever is pinned.
 */
export function trustPolicy(options: TrustOptions = {}): TlsClientConfig {
  let pinned: string | undefined;
  if (options.fingerprint !== undefined) {
    pinned = normalizeFingerprint(options.fingerprint);
    if (pinned === undefined) {
      throw new UsageError(
        'BAD_OPTION',
        `--fingerprint: expected 64 hex digits, got "${options.fingerprint}"`,
      );
    }
  }
  const file = options.knownHostsFile ?? defaultKnownHostsPath();
  const verify = async (peer: TlsPeer): Promise<void> => {
    if (pinned !== undefined) {
      if (peer.fingerprint === pinned && (peer.authorized || isUntrustedIssuer(peer))) return;
      if (peer.fingerprint !== pinned) {
        throw new NetworkError(
          'FINGERPRINT_MISMATCH',
          `the certificate of ${peer.target} is ${peer.fingerprint}, not the ${pinned} given`,
        );
      }
      throw untrustedError(peer);
    }
    if (peer.authorized) return;
    if (!isUntrustedIssuer(peer)) throw untrustedError(peer);
    const known = (await readKnownHosts(file)).get(peer.target);
    if (known !== undefined) {
      if (known === peer.fingerprint) return;
      throw new NetworkError(
        'FINGERPRINT_CHANGED',
        `THE CERTIFICATE OF ${peer.target} HAS CHANGED: remembered ${known}, now ${peer.fingerprint}. ` +
          `Someone may be intercepting the connection, or the server got a new key. ` +
          `If the change is expected, remove the line for ${peer.target} from ${file}`,
      );
    }
    if (options.trustOnFirstUse) {
      await remember(file, peer.target, peer.fingerprint);
      options.onRemembered?.(peer.target, peer.fingerprint, file);
      return;
    }
    throw untrustedError(peer);
  };
  return {
    verify,
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.servername !== undefined ? { servername: options.servername } : {}),
  };
}

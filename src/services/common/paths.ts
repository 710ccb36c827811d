import envPaths from 'env-paths';
import { join } from 'node:path';

/**
 * Where sockit keeps its state, per platform (on Linux: $XDG_CONFIG_HOME/sockit
 * or ~/.config/sockit, and $XDG_DATA_HOME/sockit or ~/.local/share/sockit).
 * Read on every call so a test (or a user) can point XDG_* elsewhere.
 */
function paths(): { config: string; data: string } {
  return envPaths('sockit', { suffix: '' });
}

export function configDir(): string {
  return paths().config;
}

export function dataDir(): string {
  return paths().data;
}

/** The shared secret of exec and files (SPEC §2.3). */
export function defaultTokenPath(): string {
  return join(configDir(), 'token');
}

/** The files service's storage root when no --root is given (SPEC §2.4). */
export function defaultFilesRoot(): string {
  return join(dataDir(), 'sockit-files');
}

/** Server fingerprints a client has trusted, one `host:port SHA256:…` per line (like ssh's). */
export function defaultKnownHostsPath(): string {
  return join(configDir(), 'known_hosts');
}

/** Where `serve --tls` keeps the self-signed certificate it creates. */
export function defaultTlsDir(): string {
  return join(configDir(), 'tls');
}

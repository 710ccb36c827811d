import { chmod, lstat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { NetworkError } from '../errors.js';

/** How long to wait for a live server to answer the probe connect (ms). */
const PROBE_TIMEOUT_MS = 1_000;

function probe(path: string): Promise<'live' | 'stale'> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('live'); // something holds the path and is too busy to accept: not ours to remove
    }, PROBE_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('live');
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve('stale');
    });
  });
}

/**
 * Makes `path` ready for listen(). Node leaves the socket file of a killed
 * server behind, and listen() then fails with EADDRINUSE. A socket nobody
 * answers on is removed; a live one means another server ("already
 * running"); a file that is not a socket is never deleted.
 */
export async function prepareUnixPath(path: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new NetworkError('BAD_ADDRESS', `cannot use ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!stats.isSocket()) {
    throw new NetworkError(
      'NOT_A_SOCKET',
      `${path} exists and is not a socket; refusing to replace it`,
    );
  }
  if ((await probe(path)) === 'live') {
    throw new NetworkError('ALREADY_RUNNING', `a server is already running on unix:${path}`);
  }
  await unlink(path);
}

/** Only the owner may connect: the socket file's mode is its access control. */
export async function restrictUnixSocket(path: string): Promise<void> {
  await chmod(path, 0o600);
}

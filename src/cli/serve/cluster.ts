// `--cluster redis://…` (or SOCKIT_CLUSTER): where the chat bus lives, and
// its password. The URL is logged only with the password taken out.
import { readFile, stat } from 'node:fs/promises';
import { UsageError } from '../../core.js';

/** A password file larger than this is not one (bytes). */
const MAX_PASSWORD_FILE = 4096;

export interface ClusterConfig {
  url: string;
  /** From --cluster-password-file; overrides one in the URL. */
  password?: string;
  /** `redis://HOST:PORT/DB` without user or password: what the log shows. */
  display: string;
}

/** The cluster asked for, checked; undefined when chat runs alone. */
export async function clusterConfig(
  flag: string | undefined,
  passwordFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ClusterConfig | undefined> {
  const raw = flag ?? (env.SOCKIT_CLUSTER !== '' ? env.SOCKIT_CLUSTER : undefined);
  if (raw === undefined) {
    if (passwordFile !== undefined)
      throw new UsageError('BAD_OPTION', '--cluster-password-file needs --cluster');
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError('BAD_OPTION', 'the cluster address is not a URL: use redis://HOST:PORT');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(
      'BAD_OPTION',
      `the cluster address must be redis:// or rediss:// (TLS), not ${url.protocol}//`,
    );
  }
  if (url.hostname === '') throw new UsageError('BAD_OPTION', 'the cluster address has no host');
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,2}$/.test(db)) {
    throw new UsageError('BAD_OPTION', `the cluster database must be a number, not "${db}"`);
  }
  const display = `${url.protocol}//${url.host}${db !== '' ? `/${db}` : ''}`;
  if (passwordFile === undefined) return { url: raw, display };
  return { url: raw, password: await readPassword(passwordFile), display };
}

async function readPassword(path: string): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new UsageError('BAD_OPTION', `cannot read the cluster password file ${path}`, {
      cause: err,
    });
  }
  if (!info.isFile() || info.size > MAX_PASSWORD_FILE) {
    throw new UsageError('BAD_OPTION', `${path} is not a password file`);
  }
  // Like the token file: a secret others can read is no secret.
  if ((info.mode & 0o077) !== 0) {
    throw new UsageError(
      'BAD_OPTION',
      `the cluster password file ${path} is accessible by others; run: chmod 600 ${path}`,
    );
  }
  const password = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  if (password === '') throw new UsageError('BAD_OPTION', `${path} is empty`);
  return password;
}

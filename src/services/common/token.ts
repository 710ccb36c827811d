import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ServiceError, UsageError } from '../../errors.js';
import { defaultTokenPath } from './paths.js';

/** 256 random bits, hex: far above the 128 bits SPEC §2.3 asks for. */
const TOKEN_BYTES = 32;
/** A shorter secret is too easy to brute-force, whoever chose it. */
const MIN_TOKEN_LENGTH = 16;
/** A token file is one line; anything larger is not a token file. */
const MAX_TOKEN_FILE = 4096;

/** Where {@link ensureToken} looks for the shared token of exec and files. */
export interface TokenSource {
  /** `--token-file`: wins over everything else. */
  file?: string;
  /** Defaults to process.env; `SOCKIT_TOKEN` is read from it. */
  env?: NodeJS.ProcessEnv;
}

/** A token and where it came from (never logged by value). */
export interface LoadedToken {
  token: string;
  /** Where it came from, for messages: a path or `SOCKIT_TOKEN`. */
  origin: string;
}

function checkToken(token: string, origin: string): string {
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new UsageError(
      'TOKEN_INSECURE',
      `the token in ${origin} is shorter than ${MIN_TOKEN_LENGTH} characters`,
    );
  }
  return token;
}

async function readTokenFile(path: string): Promise<string | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError('TOKEN_MISSING', `cannot read token file ${path}`, { cause: err });
  }
  if (!info.isFile() || info.size > MAX_TOKEN_FILE) {
    throw new UsageError('TOKEN_INSECURE', `${path} is not a token file`);
  }
  // Like ssh with a private key: a secret others can read is no secret.
  if ((info.mode & 0o077) !== 0) {
    throw new UsageError(
      'TOKEN_INSECURE',
      `token file ${path} is accessible by others (mode ${(info.mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
    );
  }
  const text = (await readFile(path, 'utf8')).trim();
  return checkToken(text, path);
}

/**
 * The token a client or server uses: `--token-file`, else `SOCKIT_TOKEN`,
 * else the file in the config directory. Undefined when there is none.
 * The token is never taken from the command line, where `ps` would show it.
 */
export async function findToken(source: TokenSource = {}): Promise<LoadedToken | undefined> {
  if (source.file !== undefined) {
    const token = await readTokenFile(source.file);
    if (token === undefined) {
      throw new UsageError('TOKEN_MISSING', `token file ${source.file} does not exist`);
    }
    return { token, origin: source.file };
  }
  const fromEnv = (source.env ?? process.env).SOCKIT_TOKEN;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return { token: checkToken(fromEnv.trim(), 'SOCKIT_TOKEN'), origin: 'SOCKIT_TOKEN' };
  }
  const path = defaultTokenPath();
  const token = await readTokenFile(path);
  return token === undefined ? undefined : { token, origin: path };
}

/** A client's token, or TOKEN_MISSING with what to do about it. */
export async function requireToken(source: TokenSource = {}): Promise<LoadedToken> {
  const found = await findToken(source);
  if (found) return found;
  throw new ServiceError(
    'TOKEN_MISSING',
    `no token: start "sockit serve" once on this machine to create ${defaultTokenPath()}, ` +
      `or give --token-file FILE or SOCKIT_TOKEN`,
  );
}

/**
 * A server's token: found as a client would find it, or else created once in
 * the config directory (mode 0600, directory 0700). The new token is written
 * to a private temporary file and hard-linked into place, so the token file
 * never exists half-written and two servers starting at once agree on one.
 */
export async function ensureToken(
  source: TokenSource = {},
): Promise<LoadedToken & { created: boolean }> {
  const found = await findToken(source);
  if (found) return { ...found, created: false };
  const path = defaultTokenPath();
  const token = randomBytes(TOKEN_BYTES).toString('hex');
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(`${token}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(temp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      const raced = await findToken(source);
      if (raced) return { ...raced, created: false };
    }
    throw new UsageError('TOKEN_MISSING', `cannot create token file ${path}`, { cause: err });
  } finally {
    await rm(temp, { force: true });
  }
  return { token, origin: path, created: true };
}

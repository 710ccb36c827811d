import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from './echo.js';

/**
 * An environment whose XDG config and data directories are fresh temp dirs,
 * so a CLI child never reads or writes the real ~/.config (token, TLS
 * identity, known_hosts), and without SOCKIT_TOKEN. Returns the dir too.
 */
export async function isolatedEnv(
  t: TestContext,
  prefix = 'sockit-env-',
): Promise<NodeJS.ProcessEnv & { XDG_CONFIG_HOME: string; XDG_DATA_HOME: string }> {
  const home = await tempDir(t, prefix);
  const env: NodeJS.ProcessEnv & { XDG_CONFIG_HOME: string; XDG_DATA_HOME: string } = {
    ...process.env,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_DATA_HOME: join(home, 'data'),
  };
  delete env.SOCKIT_TOKEN;
  return env;
}

export interface TokenWorld {
  /** The scratch directory holding everything below. */
  dir: string;
  /** An isolated environment (see isolatedEnv), SOCKIT_TOKEN unset. */
  env: NodeJS.ProcessEnv;
  /** A 0600 file holding `token`, for --token-file. */
  tokenFile: string;
  /** A storage root for the files service (not created). */
  root: string;
}

/** A scratch world for CLI tests of exec and files: XDG dirs of its own and a token file. */
export async function tokenWorld(
  t: TestContext,
  token: string,
  prefix = 'sockit-world-',
): Promise<TokenWorld> {
  const dir = await tempDir(t, prefix);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
  };
  delete env.SOCKIT_TOKEN;
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  return { dir, env, tokenFile, root: join(dir, 'root') };
}

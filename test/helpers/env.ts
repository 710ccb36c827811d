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

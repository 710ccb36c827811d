#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { chatCommand } from './commands/chat.js';
import { connectCommand } from './commands/connect.js';
import { echoCommand } from './commands/echo.js';
import { execCommand } from './commands/exec.js';
import { getCommand, lsCommand, putCommand } from './commands/files.js';
import { listenCommand } from './commands/listen.js';
import { msgCommand } from './commands/msg.js';
import { serveCommand } from './commands/serve.js';
import { timeCommand } from './commands/time.js';
import { EXIT_OK, EXIT_USAGE, Output } from './output.js';
import { createRequire } from 'node:module';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Commander's own errors ("error: unknown option") in sockit's one-line form. */
const output = {
  outputError: (text: string, write: (text: string) => void): void => {
    write(`sockit: ${text.replace(/^error: /, '')}`);
  },
};
const HINT = '(run with --help for usage)';

function program(): Command {
  const root = new Command('sockit')
    .description('A socket toolkit: framed TCP/UDP services and the clients that talk to them.')
    .version(version)
    .showHelpAfterError(HINT)
    .exitOverride()
    .configureOutput(output);
  for (const command of [
    serveCommand(),
    echoCommand(),
    timeCommand(),
    execCommand(),
    putCommand(),
    getCommand(),
    lsCommand(),
    chatCommand(),
    msgCommand(),
    connectCommand(),
    listenCommand(),
  ]) {
    // addCommand does not pass settings down: each subcommand gets them itself.
    root.addCommand(command.exitOverride().showHelpAfterError(HINT).configureOutput(output));
  }
  return root;
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    return new Output(json).error(err);
  }
}

process.exitCode = await main(process.argv);

#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
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

/**
 * Each subcommand, loaded only when it runs: a process loads just its own
 * command's code (`serve` skips the clients' progress bars, colours and
 * readline). Start-up time, and heap: an old generation above V8's 8 MB
 * incremental-marking threshold turns 64 KiB echo traffic into a
 * mark-compact every few milliseconds (docs/PERFORMANCE.md).
 */
const COMMANDS: readonly [string, () => Promise<Command>][] = [
  ['serve', async () => (await import('./commands/serve.js')).serveCommand()],
  ['echo', async () => (await import('./commands/echo.js')).echoCommand()],
  ['time', async () => (await import('./commands/time.js')).timeCommand()],
  ['exec', async () => (await import('./commands/exec.js')).execCommand()],
  ['put', async () => (await import('./commands/files.js')).putCommand()],
  ['get', async () => (await import('./commands/files.js')).getCommand()],
  ['ls', async () => (await import('./commands/files.js')).lsCommand()],
  ['chat', async () => (await import('./commands/chat.js')).chatCommand()],
  ['msg', async () => (await import('./commands/msg.js')).msgCommand()],
  ['connect', async () => (await import('./commands/connect.js')).connectCommand()],
  ['listen', async () => (await import('./commands/listen.js')).listenCommand()],
];

/**
 * The subcommand argv names, if it is one we know (`sockit help NAME` too).
 * The root command takes no option with a value, so it is the first word
 * that is not an option.
 */
function invokedCommand(argv: readonly string[]): string | undefined {
  const words = argv.slice(2).filter((arg) => !arg.startsWith('-'));
  const name = words[0] === 'help' ? words[1] : words[0];
  return COMMANDS.some(([known]) => known === name) ? name : undefined;
}

async function program(argv: readonly string[]): Promise<Command> {
  const root = new Command('sockit')
    .description('A socket toolkit: framed TCP/UDP services and the clients that talk to them.')
    .version(version)
    .showHelpAfterError(HINT)
    .exitOverride()
    .configureOutput(output);
  // The root's own help, a mistyped name ("did you mean…?") and --version see every command.
  const name = invokedCommand(argv);
  for (const [known, load] of COMMANDS) {
    if (name !== undefined && known !== name) continue;
    const command = await load();
    // addCommand does not pass settings down: each subcommand gets them itself.
    root.addCommand(command.exitOverride().showHelpAfterError(HINT).configureOutput(output));
  }
  return root;
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    await (await program(argv)).parseAsync(argv);
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

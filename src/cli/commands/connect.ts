import { Command } from 'commander';
import { relayConnect } from '../../index.js';
import { parseBytes, parseDuration } from '../options.js';
import {
  RELAY_HELP,
  addRelayOptions,
  portArgument,
  processIo,
  relayAddress,
  relayOptions,
  type RelayCliOptions,
} from '../relay-options.js';
import { addTlsClientOptions, tlsOption, type TlsCliOptions } from '../tls-options.js';

interface ConnectCliOptions extends RelayCliOptions, TlsCliOptions {
  timeout: number;
  readSize?: number;
}

export function connectCommand(): Command {
  const command = new Command('connect')
    .summary('connect to ADDRESS and relay stdin/stdout (like ncat)')
    .description(
      'Connects to ADDRESS over TCP, a Unix socket (unix:/path) or UDP (--udp), then sends stdin ' +
        'to it and prints what it sends. ADDRESS is host:port, [v6]:port, unix:/path, or HOST PORT.',
    )
    .argument('<address>', 'where to connect: host:port, [v6]:port or unix:/path')
    .addArgument(portArgument())
    .option('-w, --timeout <duration>', 'connect timeout', parseDuration, 10_000)
    .option(
      '--read-size <bytes>',
      'read at most this many bytes per read, like recv(n): see how a large send arrives in pieces',
      parseBytes,
    );
  return addTlsClientOptions(addRelayOptions(command))
    .addHelpText('after', RELAY_HELP)
    .action(async (target: string, port: number | undefined, cli: ConnectCliOptions) => {
      const address = relayAddress(target, port);
      const session = await relayConnect(
        address,
        {
          ...relayOptions(cli),
          connectTimeoutMs: cli.timeout,
          ...(cli.readSize !== undefined ? { readSize: cli.readSize } : {}),
          ...(cli.udp ? {} : await tlsOption(cli)),
        },
        processIo(cli, false),
      );
      await session.done;
    });
}

import { Command } from 'commander';
import {
  UsageError,
  ensureServerIdentity,
  relayListen,
  type TlsServerConfig,
} from '../../index.js';
import { integerIn } from '../options.js';
import {
  RELAY_HELP,
  addRelayOptions,
  portArgument,
  processIo,
  relayAddress,
  relayOptions,
  type RelayCliOptions,
} from '../relay-options.js';

interface ListenCliOptions extends RelayCliOptions {
  keepOpen: boolean;
  maxConns?: number;
  allow?: string[];
  deny?: string[];
  tls: boolean;
  cert?: string;
  key?: string;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function listenCommand(): Command {
  const command = new Command('listen')
    .summary('wait for a client on ADDRESS and relay stdin/stdout (like ncat -l)')
    .description(
      'Listens on ADDRESS over TCP, a Unix socket (unix:/path) or UDP (--udp), serves one client ' +
        '(or many with --keep-open), sends stdin to it and prints what it sends. ' +
        'ADDRESS is port, :port, host:port, [v6]:port, unix:/path, or HOST PORT; the host defaults ' +
        'to 127.0.0.1 (anything else is an explicit choice). Port 0 picks a free port (-v prints it).',
    )
    .argument('<address>', 'where to listen: port, host:port, [v6]:port or unix:/path')
    .addArgument(portArgument())
    .option(
      '-k, --keep-open',
      'serve client after client, several at once; stdin goes to every connected client',
      false,
    )
    .option(
      '-m, --max-conns <n>',
      'with --keep-open: clients (UDP: peers) at once; the next gets "error BUSY" (default 100)',
      integerIn(1, 1_000_000),
    )
    .option(
      '--allow <rules>',
      'only these may connect: addresses, CIDR blocks or ranges, comma-separated, repeatable',
      collect,
    )
    .option('--deny <rules>', 'refuse these, even if allowed (same syntax as --allow)', collect)
    .option(
      '--tls',
      'serve TLS (without --cert/--key: the self-signed certificate of "serve --tls"; its fingerprint goes to stderr)',
      false,
    )
    .option('--cert <file>', 'TLS certificate chain (PEM)')
    .option('--key <file>', 'TLS private key (PEM)');
  return addRelayOptions(command)
    .addHelpText('after', RELAY_HELP)
    .action(async (target: string, port: number | undefined, cli: ListenCliOptions) => {
      const address = relayAddress(target, port);
      let tls: { tls?: TlsServerConfig } = {};
      if (cli.tls && !cli.udp) {
        const identity = await ensureServerIdentity({
          ...(cli.cert !== undefined ? { cert: cli.cert } : {}),
          ...(cli.key !== undefined ? { key: cli.key } : {}),
        });
        process.stderr.write(`sockit: TLS certificate ${identity.fingerprint}\n`);
        tls = { tls: { cert: identity.cert, key: identity.key } };
      } else if (cli.tls || cli.cert !== undefined || cli.key !== undefined) {
        throw new UsageError(
          'BAD_OPTION',
          cli.udp ? '--tls is for TCP' : '--cert and --key need --tls',
        );
      }
      const listener = await relayListen(
        address,
        {
          ...relayOptions(cli),
          keepOpen: cli.keepOpen,
          ...(cli.maxConns !== undefined ? { maxConns: cli.maxConns } : {}),
          allow: cli.allow ?? [],
          deny: cli.deny ?? [],
          ...tls,
        },
        processIo(cli, cli.keepOpen),
      );
      // A signal stops listening and closes every connection; that is a normal end (exit 0).
      const stop = (): void => {
        void listener.close();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await listener.done;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}

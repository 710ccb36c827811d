import { Command, Option } from 'commander';
import {
  TIME_MODES,
  parseAddress,
  queryTime,
  type TimeMode,
  type TimeResult,
} from '../../index.js';
import { defaultPortFor } from '../../services/time/internal.js';
import { parseDuration } from '../options.js';
import { Output } from '../output.js';

interface TimeOptions {
  mode: TimeMode;
  format?: string;
  udp: boolean;
  json: boolean;
  timeout: number;
}

function ms(value: number | undefined): string {
  return value === undefined ? '?' : `${value >= 0 ? '+' : ''}${value.toFixed(3)} ms`;
}

function describe(result: TimeResult): string {
  if (result.text !== undefined) return `${result.text}\n`;
  const when = new Date(result.remoteMs ?? 0).toISOString();
  const source =
    result.stratum !== undefined
      ? `, stratum ${result.stratum} ${result.referenceId ?? ''}`.trimEnd()
      : '';
  const resolution = result.resolutionMs >= 1000 ? ', 1 s resolution' : '';
  return `${when}  offset ${ms(result.offsetMs)}  rtt ${ms(result.rttMs).replace('+', '')}  (${result.mode}${source}${resolution})\n`;
}

export function timeCommand(): Command {
  return new Command('time')
    .summary('ask a time server for the time, and how far off the local clock is')
    .description(
      'Queries a time server and prints its time, the offset of the local clock (server minus local) and the round trip.\n' +
        'Modes: sntp (RFC 4330, UDP 7123, offset and delay by the RFC formulas), rfc868 (TCP or --udp 7037, whole seconds),\n' +
        'unix32 (UDP 7038, whole seconds since 1970), strftime (UDP 7039, prints the server-formatted text).\n' +
        'RFC 868 and SNTP seconds wrap in 2036 and are read the RFC 4330 way (1968-2104); unix32 wraps in 2106.',
    )
    .argument('<host>', 'server: host, host:port or [v6]:port (the port defaults by mode)')
    .addOption(new Option('--mode <mode>', 'time format').choices(TIME_MODES).default('sntp'))
    .option(
      '--format <fmt>',
      "strftime mode: a Python-style strftime format (default: the server's %Y-%m-%d %X)",
    )
    .option('--udp', 'rfc868 over UDP instead of TCP', false)
    .option('--json', 'print one JSON line', false)
    .option(
      '--timeout <duration>',
      'give up after this long (UDP requests are retried within it)',
      parseDuration,
      10_000,
    )
    .action(async (target: string, options: TimeOptions) => {
      const out = new Output(options.json);
      const mode =
        options.format !== undefined && options.mode === 'sntp' ? 'strftime' : options.mode;
      const result = await queryTime(parseAddress(target, { port: defaultPortFor(mode) }), {
        mode,
        udp: options.udp,
        timeoutMs: options.timeout,
        ...(options.format !== undefined ? { format: options.format } : {}),
      });
      out.emit(
        {
          type: 'time',
          ...result,
          ...(result.remoteMs !== undefined
            ? { remote: new Date(result.remoteMs).toISOString() }
            : {}),
        },
        describe(result),
      );
    });
}

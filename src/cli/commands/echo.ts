import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import {
  ECHO_PORT,
  EchoClient,
  EchoUdpClient,
  parseAddress,
  type ResolvedFraming,
} from '../../index.js';
import { parseDuration } from '../options.js';
import { Output } from '../output.js';
import { addTlsClientOptions, tlsOption, type TlsCliOptions } from '../tls-options.js';

interface EchoOptions extends TlsCliOptions {
  framing: ResolvedFraming;
  udp: boolean;
  json: boolean;
  timeout: number;
}

/** Messages from the command line, or else one per stdin line. */
async function* messages(args: string[]): AsyncGenerator<Buffer> {
  if (args.length > 0) {
    for (const arg of args) yield Buffer.from(arg);
    return;
  }
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) yield Buffer.from(line);
}

function printReply(out: Output, message: Buffer, reply: Buffer, rttMs: number): void {
  out.emit(
    {
      type: 'reply',
      message: message.toString(),
      reply: reply.toString(),
      bytes: reply.length,
      rttMs: Number(rttMs.toFixed(3)),
    },
    Buffer.concat([reply, Buffer.from('\n')]),
  );
}

async function runUdp(
  target: string,
  args: string[],
  options: EchoOptions,
  out: Output,
): Promise<void> {
  const client = await EchoUdpClient.open(parseAddress(target, { port: ECHO_PORT }), {
    timeoutMs: options.timeout,
  });
  try {
    for await (const message of messages(args)) {
      const { reply, rttMs } = await client.request(message);
      printReply(out, message, reply, rttMs);
    }
  } finally {
    client.close();
  }
}

async function runTcp(
  target: string,
  args: string[],
  options: EchoOptions,
  out: Output,
): Promise<void> {
  const client = await EchoClient.connect(parseAddress(target, { port: ECHO_PORT }), {
    framing: options.framing,
    timeoutMs: options.timeout,
    connectTimeoutMs: options.timeout,
    ...(await tlsOption(options)),
    onUnsolicited: (message) => {
      out.emit(
        { type: 'message', message: message.toString() },
        Buffer.concat([message, Buffer.from('\n')]),
      );
    },
  });
  try {
    // Pipelined: every message is sent as soon as it is read; replies print in order.
    let previous: Promise<void> = Promise.resolve();
    for await (const message of messages(args)) {
      const sentAt = performance.now();
      const reply = client.request(message);
      previous = previous.then(async () => {
        printReply(out, message, await reply, performance.now() - sentAt);
      });
      previous.catch(() => undefined); // awaited below; keeps a fast failure from going unhandled
    }
    await previous;
    await client.close();
  } finally {
    client.destroy();
  }
}

export function echoCommand(): Command {
  const command = new Command('echo')
    .summary('send messages to an echo server and print the replies')
    .description(
      'Sends each MSG (or each line of stdin when no MSG is given) to the echo service and prints each reply on its own line.\n' +
        `HOST may be host, host:port, [v6]:port or unix:/path; the port defaults to ${ECHO_PORT}.`,
    )
    .argument('<host>', 'server address')
    .argument('[msg...]', 'messages to send')
    .addOption(
      new Option('--framing <mode>', 'u32be or u32le frames, or raw text lines')
        .choices(['u32be', 'u32le', 'raw'])
        .default('u32be'),
    )
    .option('--udp', 'use UDP datagrams (retried on loss)', false)
    .option('--json', 'print JSON lines', false)
    .option('--timeout <duration>', 'connect and reply timeout', parseDuration, 10_000);
  return addTlsClientOptions(command).action(
    async (target: string, args: string[], options: EchoOptions) => {
      const out = new Output(options.json);
      await (options.udp ? runUdp : runTcp)(target, args, options, out);
    },
  );
}

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import type { SingleBar } from 'cli-progress';
// The core and the files service only, not the whole library: put and get
// start in about 40 ms less (their start-up is in every transfer's time).
import {
  SockitError,
  parseAddress,
  type Address,
  type ByteOrder,
  type ErrorCode,
} from '../../core.js';
import { FILES_PORT, FilesClient, type Progress } from '../../services/files/index.js';
import { checkName, escapeName, findToken, formatBytes } from '../../services/files/internal.js';
import { parseBytes, parseDuration } from '../options.js';
import { EXIT_FAILURE, Output } from '../output.js';
import { addTlsClientOptions, tlsOption, type TlsCliOptions } from '../tls-options.js';

interface CommonOptions extends TlsCliOptions {
  tokenFile?: string;
  timeout: number;
  json: boolean;
  framing: ByteOrder;
}

interface PutCliOptions extends CommonOptions {
  as?: string;
  resume: boolean;
  overwrite: boolean;
}

interface GetCliOptions extends CommonOptions {
  output?: string;
  resume: boolean;
  overwrite: boolean;
  maxSize?: number;
}

function addCommon(command: Command): Command {
  return addTlsClientOptions(command)
    .option(
      '--token-file <file>',
      'the shared token (default: SOCKIT_TOKEN, else the token file "sockit serve" created)',
    )
    .option(
      '--timeout <duration>',
      'connect and reply timeout (a transfer itself may take longer)',
      parseDuration,
      10_000,
    )
    .option('--json', 'print JSON lines', false)
    .addOption(
      new Option('--framing <order>', 'frame length byte order the server uses')
        .choices(['u32be', 'u32le'])
        .default('u32be'),
    );
}

async function open(target: string, options: CommonOptions): Promise<FilesClient> {
  const address: Address = parseAddress(target, { port: FILES_PORT });
  // A server without authentication says so in its hello: a token is only needed if it asks.
  const found = await findToken(options.tokenFile !== undefined ? { file: options.tokenFile } : {});
  return FilesClient.connect(address, {
    ...(found ? { token: found.token } : {}),
    timeoutMs: options.timeout,
    byteOrder: options.framing,
    ...(await tlsOption(options)),
  });
}

type ProgressBar = { update: Progress; stop: () => void };

/**
 * Progress bars on a terminal only: never in a pipe, never with --json.
 * cli-progress is loaded only then: a script's put or get never pays for it.
 */
async function progressBars(out: Output): Promise<(label: string) => ProgressBar> {
  if (out.json || !process.stderr.isTTY) {
    return () => ({ update: () => undefined, stop: () => undefined });
  }
  const { SingleBar: Bar } = (await import('cli-progress')).default;
  return (label) => progressBar(Bar, label);
}

function progressBar(Bar: typeof SingleBar, label: string): ProgressBar {
  const bar: SingleBar = new Bar({
    stream: process.stderr,
    format: '{label} [{bar}] {percentage}% | {done} / {all} | {rate} | ETA {eta_formatted}',
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50,
    fps: 10,
  });
  const started = performance.now();
  let first: number | undefined;
  let startedBar = false;
  return {
    update: (done, total) => {
      first ??= done;
      const seconds = (performance.now() - started) / 1000;
      const payload = {
        label,
        done: formatBytes(done),
        all: formatBytes(total),
        rate: `${formatBytes(seconds > 0 ? (done - first) / seconds : 0)}/s`,
      };
      if (!startedBar) {
        bar.start(total, done, payload);
        startedBar = true;
      } else bar.update(done, payload);
    },
    stop: () => {
      if (startedBar) bar.stop();
    },
  };
}

function rate(bytes: number, ms: number): string {
  return ms > 0 ? `${formatBytes((bytes * 1000) / ms)}/s` : '';
}

async function runPut(target: string, files: string[], options: PutCliOptions): Promise<void> {
  const out = new Output(options.json);
  const client = await open(target, options);
  let bar: ProgressBar | undefined;
  const newBar = await progressBars(out);
  let started = 0;
  try {
    const { failed } = await client.putTree(files, {
      ...(options.as !== undefined ? { as: options.as } : {}),
      resume: options.resume,
      overwrite: options.overwrite,
      onProgress: (_name, done, total) => bar?.update(done, total),
      onEvent: (event) => {
        switch (event.type) {
          case 'skip':
            out.emit(
              { type: 'skip', path: event.path, reason: event.reason },
              `skipped ${escapeName(event.path)} (${event.reason})\n`,
            );
            return;
          case 'start':
            started = performance.now();
            bar = newBar(escapeName(event.file.name));
            return;
          case 'put': {
            bar?.stop();
            bar = undefined;
            const { result } = event;
            const ms = performance.now() - started;
            out.emit(
              { type: 'put', path: event.file.path, ...result, durationMs: Math.round(ms) },
              `${escapeName(result.name)}  ${formatBytes(result.size)}  sha256 ${result.sha256}` +
                (result.offset > 0 ? `  (resumed at ${formatBytes(result.offset)})` : '') +
                `  ${rate(result.sent, ms)}\n`,
            );
            return;
          }
          case 'error':
            bar?.stop();
            bar = undefined;
            reportFailure(out, event.file.name, event.error);
        }
      },
    });
    if (failed.length > 0) process.exitCode = EXIT_FAILURE;
  } finally {
    bar?.stop();
    await client.close().catch(() => undefined);
    client.destroy();
  }
}

function reportFailure(out: Output, name: string, err: unknown): void {
  const code: ErrorCode = err instanceof SockitError ? err.code : 'INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  if (out.json) {
    out.emit({ type: 'error', name, code, message }, '');
  } else {
    process.stderr.write(`sockit: ${escapeName(name)}: ${escapeName(message)} (${code})\n`);
  }
}

async function runGet(target: string, name: string, options: GetCliOptions): Promise<void> {
  const out = new Output(options.json);
  checkName(name);
  const base = name.split('/').pop() as string;
  let dest = options.output ?? base;
  const info = await stat(dest).catch(() => undefined);
  if (info?.isDirectory()) dest = join(dest, base);
  const client = await open(target, options);
  const bar = (await progressBars(out))(escapeName(name));
  const started = performance.now();
  try {
    const result = await client.get(name, dest, {
      resume: options.resume,
      overwrite: options.overwrite,
      ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
      onProgress: bar.update,
    });
    bar.stop();
    const ms = performance.now() - started;
    out.emit(
      { type: 'get', ...result, durationMs: Math.round(ms) },
      `${escapeName(result.name)} -> ${escapeName(result.path)}  ${formatBytes(result.size)}  sha256 ${result.sha256}` +
        (result.offset > 0 ? `  (resumed at ${formatBytes(result.offset)})` : '') +
        `  ${rate(result.received, ms)}\n`,
    );
    await client.close();
  } finally {
    bar.stop();
    client.destroy();
  }
}

async function runLs(
  target: string,
  prefix: string | undefined,
  options: CommonOptions,
): Promise<void> {
  const out = new Output(options.json);
  const client = await open(target, options);
  try {
    await client.list(prefix, (entry) => {
      out.emit(
        { type: 'entry', ...entry },
        `${String(entry.size).padStart(14)}  ${new Date(entry.mtimeMs).toISOString()}  ${escapeName(entry.name)}\n`,
      );
    });
    await client.close();
  } finally {
    client.destroy();
  }
}

const HOST_HELP = `HOST may be host, host:port, [v6]:port or unix:/path; the port defaults to ${FILES_PORT}.`;

export function putCommand(): Command {
  return addCommon(
    new Command('put')
      .summary('upload files or directories to a files server')
      .description(
        'Uploads each FILE as its base name and each DIR recursively as DIR/… (symlinks inside are skipped).\n' +
          'Every file is hashed (sha256) while it is sent and verified by the server before it becomes visible.\n' +
          HOST_HELP,
      )
      .argument('<host>', 'server address')
      .argument('<paths...>', 'files or directories to send')
      .option('--as <name>', 'remote name for the one FILE or DIR given')
      .option(
        '--resume',
        'continue an upload the server holds part of (sends only the rest)',
        false,
      )
      .option('--overwrite', 'replace an existing file (the server must allow it)', false),
  ).action(async (target: string, paths: string[], options: PutCliOptions) => {
    await runPut(target, paths, options);
  });
}

export function getCommand(): Command {
  return addCommon(
    new Command('get')
      .summary('download a file from a files server')
      .description(
        'Downloads NAME to PATH (default: its base name in the current directory; into PATH if PATH is a directory).\n' +
          "Bytes go to PATH.sockit-part, are checked against the server's sha256, then renamed into place.\n" +
          HOST_HELP,
      )
      .argument('<host>', 'server address')
      .argument('<name>', 'remote file name')
      .option('-o, --output <path>', 'where to write the file')
      .option('--resume', 'continue PATH.sockit-part from a broken download', false)
      .option('--overwrite', 'replace PATH if it exists', false)
      .option('--max-size <bytes>', 'refuse a file larger than this', parseBytes),
  ).action(async (target: string, name: string, options: GetCliOptions) => {
    await runGet(target, name, options);
  });
}

export function lsCommand(): Command {
  return addCommon(
    new Command('ls')
      .summary('list the files on a files server')
      .description(
        `Lists files (size, modification time, name), under PREFIX if given.\n${HOST_HELP}`,
      )
      .argument('<host>', 'server address')
      .argument('[prefix]', 'a directory on the server'),
  ).action(async (target: string, prefix: string | undefined, options: CommonOptions) => {
    await runLs(target, prefix, options);
  });
}

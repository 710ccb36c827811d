import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import {
  EchoServer,
  type Address,
  type EchoListen,
  type EchoServerOptions,
  type Logger,
} from '../../src/index.js';
import { LOOPBACK } from './net.js';

export interface StartedEcho {
  server: EchoServer;
  tcp: Address;
  udp: Address | undefined;
}

/**
 * Starts an EchoServer (TCP and UDP on 127.0.0.1, port 0 unless `where` says
 * otherwise) and registers its teardown on `t` before anything is asserted.
 */
export async function startEcho(
  t: TestContext,
  options: EchoServerOptions = {},
  where: EchoListen = { tcp: LOOPBACK, udp: LOOPBACK },
): Promise<StartedEcho> {
  const server = new EchoServer(options);
  t.after(() => server.close(0));
  const bound = await server.listen(where);
  if (!bound.tcp && where.tcp) throw new Error('no TCP address');
  return { server, tcp: bound.tcp ?? LOOPBACK, udp: bound.udp };
}

/** One parsed log line. */
export type LogRecord = Record<string, unknown>;

/** A pino logger that keeps every record in memory, and a way to wait for one. */
export function captureLogger(): {
  logger: Logger;
  records: LogRecord[];
  waitFor: (match: (r: LogRecord) => boolean) => Promise<LogRecord>;
} {
  const records: LogRecord[] = [];
  const waiters: { match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        const record = JSON.parse(line) as LogRecord;
        records.push(record);
        for (const w of waiters.splice(0)) {
          if (w.match(record)) w.resolve(record);
          else waiters.push(w);
        }
      },
    },
  );
  const waitFor = (match: (r: LogRecord) => boolean): Promise<LogRecord> => {
    const seen = records.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      waiters.push({ match, resolve });
    });
  };
  return { logger, records, waitFor };
}

/** A fresh temp directory removed after the test; Unix socket paths go in it. */
export async function tempDir(t: TestContext, prefix = 'sockit-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

import { ProtocolError, NetworkError, UsageError } from '../../errors.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../../limits.js';
import { formatAddress, type Address } from '../../transport/address.js';
import { connect } from '../../transport/tcp-client.js';
import { UdpClient } from '../../transport/udp-client.js';
import { decodeRfc868, decodeUnix32, systemClock, type Clock, type TimeMode } from './messages.js';
import {
  MODE_SERVER,
  encodeSntpRequest,
  fromNtpTimestamp,
  isZeroTimestamp,
  offsetAndDelay,
  parseSntpPacket,
  toNtpTimestamp,
} from './sntp.js';

/** Options of {@link queryTime}: mode, transport, timeout, retries. */
export interface TimeQueryOptions {
  /** @default 'sntp' */
  mode?: TimeMode;
  /** RFC 868 over UDP instead of TCP (the other modes are always UDP). */
  udp?: boolean;
  /** strftime mode: the format to send. @default '' (the server's default) */
  format?: string;
  /** @default 10 000 ms */
  timeoutMs?: number;
  /** The local clock to compare with (Unix ms). */
  clock?: Clock;
}

/** What {@link queryTime} learned: the server's time and, for SNTP, offset and round trip. */
export interface TimeResult {
  mode: TimeMode;
  /** The server's time, Unix ms (absent for strftime, which is only text). */
  remoteMs?: number;
  /** Server minus local clock (ms); for 1-second formats, ±500 ms at best. */
  offsetMs?: number;
  /** Round trip (ms); SNTP: the RFC 4330 delay, with the server's processing taken out. */
  rttMs: number;
  /** strftime: the server's formatted time. */
  text?: string;
  /** SNTP: stratum and reference id as the server stated them. */
  stratum?: number;
  referenceId?: string;
  /** Resolution of the answer (ms): 1 000 for the 32-bit second formats. */
  resolutionMs: number;
}

/** Whole-second formats: the server truncates, so the true instant is half a second later on average. */
const HALF_SECOND = 500;

/**
 * Asks a time server for the time in one of the four formats of SPEC §2.2.
 * @example
 * ```ts
 * import { parseAddress, queryTime } from 'sockit';
 *
 * const result = await queryTime(parseAddress('127.0.0.1', { port: 7123 }), { mode: 'sntp' });
 * console.log(result.remoteMs, result.offsetMs, result.rttMs);
 * ```
 */
export async function queryTime(
  address: Address,
  options: TimeQueryOptions = {},
): Promise<TimeResult> {
  const mode = options.mode ?? 'sntp';
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (mode === 'rfc868' && !options.udp) return rfc868OverTcp(address, clock, timeoutMs);
  if (address.kind !== 'inet')
    throw new UsageError(
      'BAD_ADDRESS',
      `${mode} over UDP needs host:port, not ${formatAddress(address)}`,
    );
  const client = await UdpClient.open(address);
  try {
    switch (mode) {
      case 'rfc868':
      case 'unix32': {
        const t1 = clock();
        const { reply } = await client.request(Buffer.alloc(0), {
          timeoutMs,
          match: (r) => r.length === 4,
        });
        const t4 = clock();
        const seconds = mode === 'rfc868' ? decodeRfc868(reply) : decodeUnix32(reply);
        return secondsResult(mode, seconds, t1, t4);
      }
      case 'strftime': {
        const t1 = clock();
        const { reply } = await client.request(Buffer.from(options.format ?? ''), { timeoutMs });
        return { mode, text: reply.toString('utf8'), rttMs: clock() - t1, resolutionMs: 1000 };
      }
      case 'sntp':
        return await sntp(client, clock, timeoutMs);
    }
  } finally {
    client.close();
  }
}

function secondsResult(mode: TimeMode, unixSeconds: number, t1: number, t4: number): TimeResult {
  const remoteMs = unixSeconds * 1000 + HALF_SECOND;
  return { mode, remoteMs, offsetMs: remoteMs - (t1 + t4) / 2, rttMs: t4 - t1, resolutionMs: 1000 };
}

/** RFC 868 over TCP: connect, read 4 bytes until the server closes. */
async function rfc868OverTcp(
  address: Address,
  clock: Clock,
  timeoutMs: number,
): Promise<TimeResult> {
  const t1 = clock();
  const conn = await connect(address, { connectTimeoutMs: timeoutMs });
  const chunks: Buffer[] = [];
  let total = 0;
  const timer = setTimeout(() => {
    conn.destroy(
      new NetworkError('TIMEOUT', `${formatAddress(address)}: no time within ${timeoutMs} ms`),
    );
  }, timeoutMs);
  conn.start({
    data: (chunk) => {
      total += chunk.length;
      // A time server sends 4 bytes; never buffer what a hostile one might stream.
      if (total > 4) throw new ProtocolError('BAD_REPLY', `RFC 868 server sent more than 4 bytes`);
      chunks.push(chunk);
    },
  });
  conn.end();
  const info = await conn.whenClosed;
  clearTimeout(timer);
  const t4 = clock();
  if (info.error) throw info.error;
  if (total !== 4)
    throw new ProtocolError('BAD_REPLY', `RFC 868 server sent ${total} bytes, not 4`);
  return secondsResult('rfc868', decodeRfc868(Buffer.concat(chunks)), t1, t4);
}

/** RFC 4330 §5 client: one request, the reply checked as §5 and §8 say. */
async function sntp(client: UdpClient, clock: Clock, timeoutMs: number): Promise<TimeResult> {
  const t1 = clock();
  const transmit = toNtpTimestamp(t1);
  const request = encodeSntpRequest(transmit);
  // Only a reply that echoes our transmit timestamp answers us (anti-spoofing, stale replies).
  const { reply } = await client.request(request, {
    timeoutMs,
    match: (r) => r.length >= 48 && r.subarray(24, 32).equals(transmit),
  });
  const t4 = clock();
  const packet = parseSntpPacket(reply);
  if (packet.mode !== MODE_SERVER)
    throw new ProtocolError('BAD_REPLY', `SNTP reply in mode ${packet.mode}, not 4`);
  if (packet.stratum === 0) {
    const code = packet.referenceId.toString('latin1').replace(/\0+$/, '');
    throw new ProtocolError(
      'KISS_OF_DEATH',
      `server sent Kiss-o'-Death ${code}${code === 'RATE' ? ': poll less often' : ''}`,
    );
  }
  if (packet.leap === 3)
    throw new ProtocolError('BAD_REPLY', 'server clock is not synchronized (leap indicator 3)');
  if (isZeroTimestamp(packet.transmit))
    throw new ProtocolError('BAD_REPLY', 'SNTP reply with a zero transmit timestamp');
  const t2 = fromNtpTimestamp(packet.receive);
  const t3 = fromNtpTimestamp(packet.transmit);
  const { offsetMs, delayMs } = offsetAndDelay(t1, t2, t3, t4);
  return {
    mode: 'sntp',
    remoteMs: t4 + offsetMs,
    offsetMs,
    rttMs: delayMs,
    stratum: packet.stratum,
    referenceId: packet.referenceId.toString('latin1').replace(/\0+$/, ''),
    resolutionMs: 2 ** packet.precision * 1000,
  };
}

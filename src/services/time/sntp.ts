import { ProtocolError } from '../../errors.js';
import { SECONDS_1900_TO_1970, eraSecondsToUnix } from './messages.js';

/**
 * SNTP v4 packets (RFC 4330, RFC 5905 §7.3): 48 bytes, big-endian.
 *
 *   0: LI(2) VN(3) Mode(3)   1: stratum   2: poll   3: precision (signed log2 s)
 *   4: root delay (16.16)    8: root dispersion (16.16)   12: reference id
 *  16: reference ts  24: originate ts  32: receive ts  40: transmit ts
 *
 * Timestamps are 32.32 fixed-point seconds since 1900, kept here as raw
 * 8-byte buffers where they must be echoed bit for bit (the origin check).
 */
export const SNTP_PACKET_BYTES = 48;

export const MODE_CLIENT = 3;
export const MODE_SERVER = 4;

/** The fields of one SNTP v4 packet (RFC 4330) that sockit reads or writes. */
export interface SntpPacket {
  leap: number;
  version: number;
  mode: number;
  stratum: number;
  poll: number;
  precision: number;
  /** Seconds. */
  rootDelay: number;
  /** Seconds. */
  rootDispersion: number;
  /** 4 bytes: an IPv4 address, a clock source name ("LOCL"), or a KoD code ("RATE"). */
  referenceId: Buffer;
  reference: Buffer;
  originate: Buffer;
  receive: Buffer;
  transmit: Buffer;
}

/** Parses the 48-byte header; extension fields and MACs after it are ignored. */
export function parseSntpPacket(bytes: Buffer): SntpPacket {
  if (bytes.length < SNTP_PACKET_BYTES) {
    throw new ProtocolError(
      'BAD_HEADER',
      `SNTP packet of ${bytes.length} bytes (at least 48 expected)`,
    );
  }
  const first = bytes[0] ?? 0;
  return {
    leap: first >> 6,
    version: (first >> 3) & 0x07,
    mode: first & 0x07,
    stratum: bytes[1] ?? 0,
    poll: bytes.readInt8(2),
    precision: bytes.readInt8(3),
    rootDelay: bytes.readInt32BE(4) / 65536,
    rootDispersion: bytes.readUInt32BE(8) / 65536,
    referenceId: Buffer.from(bytes.subarray(12, 16)),
    reference: Buffer.from(bytes.subarray(16, 24)),
    originate: Buffer.from(bytes.subarray(24, 32)),
    receive: Buffer.from(bytes.subarray(32, 40)),
    transmit: Buffer.from(bytes.subarray(40, 48)),
  };
}

export function encodeSntpPacket(packet: SntpPacket): Buffer {
  const out = Buffer.alloc(SNTP_PACKET_BYTES);
  out[0] = ((packet.leap & 0x03) << 6) | ((packet.version & 0x07) << 3) | (packet.mode & 0x07);
  out[1] = packet.stratum;
  out.writeInt8(packet.poll, 2);
  out.writeInt8(packet.precision, 3);
  out.writeInt32BE(Math.round(packet.rootDelay * 65536), 4);
  out.writeUInt32BE(Math.min(0xffff_ffff, Math.round(packet.rootDispersion * 65536)), 8);
  packet.referenceId.copy(out, 12, 0, 4);
  packet.reference.copy(out, 16, 0, 8);
  packet.originate.copy(out, 24, 0, 8);
  packet.receive.copy(out, 32, 0, 8);
  packet.transmit.copy(out, 40, 0, 8);
  return out;
}

const TWO_32 = 2 ** 32;

/** A client request (mode 3 unless told otherwise) carrying `transmit` as its transmit timestamp. */
export function encodeSntpRequest(transmit: Buffer, version = 4, mode = MODE_CLIENT): Buffer {
  return encodeSntpPacket({
    leap: 0,
    version,
    mode,
    stratum: 0,
    poll: 4,
    precision: 0,
    rootDelay: 0,
    rootDispersion: 0,
    referenceId: Buffer.alloc(4),
    reference: Buffer.alloc(8),
    originate: Buffer.alloc(8),
    receive: Buffer.alloc(8),
    transmit,
  });
}

/** Writes Unix milliseconds as an NTP timestamp (32.32, era-wrapped like RFC 4330 §3) at `offset`. */
export function writeNtpTimestamp(target: Buffer, offset: number, unixMs: number): void {
  const totalSeconds = unixMs / 1000 + SECONDS_1900_TO_1970;
  const seconds = Math.floor(totalSeconds);
  const fraction = Math.min(TWO_32 - 1, Math.floor((totalSeconds - seconds) * TWO_32));
  target.writeUInt32BE(((seconds % TWO_32) + TWO_32) % TWO_32, offset);
  target.writeUInt32BE(fraction, offset + 4);
}

/** Unix milliseconds → an NTP timestamp. */
export function toNtpTimestamp(unixMs: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  writeNtpTimestamp(out, 0, unixMs);
  return out;
}

/** An NTP timestamp → Unix milliseconds, with the RFC 4330 era rule. */
export function fromNtpTimestamp(timestamp: Buffer): number {
  const seconds = timestamp.readUInt32BE(0);
  const fraction = timestamp.readUInt32BE(4);
  return (eraSecondsToUnix(seconds) + fraction / TWO_32) * 1000;
}

export function isZeroTimestamp(timestamp: Buffer): boolean {
  return timestamp.readUInt32BE(0) === 0 && timestamp.readUInt32BE(4) === 0;
}

/** RFC 4330 §5: clock offset and round-trip delay from T1 (client send) … T4 (client receive), ms. */
export function offsetAndDelay(
  t1: number,
  t2: number,
  t3: number,
  t4: number,
): { offsetMs: number; delayMs: number } {
  return { offsetMs: (t2 - t1 + (t3 - t4)) / 2, delayMs: t4 - t1 - (t3 - t2) };
}

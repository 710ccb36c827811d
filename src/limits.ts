/**
 * The default bounds every service shares (frames, headers, connections,
 * timeouts, UDP), with their units. All of them can be set per server and
 * client; docs/LIMITS.md explains each and what it costs in memory.
 *
 * A bound that belongs to one service lives with it, so a reader finds it
 * from the path:
 * - the wire sizes a codec enforces: that service's `messages.ts`
 *   (exec argv/env, files names, chat text and line, messenger datagram,
 *   web message and queue, relay peers, time format);
 * - the rest of a service's bounds: its `limits.ts` (chat pings, history and
 *   queues; exec commands and kill grace; messenger in-flight and duplicate
 *   memory; SNTP stratum and rate;
 *   `services/common/limits.ts` for the authentication handshake);
 * - socket-level bounds of one transport: next to it (`transport/tls.ts`
 *   handshake timeout, `transport/http-server.ts` header timeout,
 *   `transport/connection.ts` per-connection limits built from these).
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** SPEC §1.1: the largest frame payload accepted or sent (bytes). */
export const DEFAULT_MAX_FRAME = 16 * MiB;

/** SPEC §1.2: the largest envelope header, JSON text (bytes). */
export const DEFAULT_MAX_HEADER = 64 * KiB;

/** The largest envelope body `size` the codec accepts: 2^53 − 1 bytes. Services set lower quotas. */
export const MAX_BODY_SIZE = Number.MAX_SAFE_INTEGER;

/** Concurrent connections per TCP listener; the next one gets BUSY and is closed. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;

/** A connection with no traffic either way for this long is closed (ms): 2 minutes. */
export const DEFAULT_IDLE_TIMEOUT_MS = 2 * 60_000;

/** A frame whose first byte arrived must be complete within this time (ms): slowloris guard. */
export const DEFAULT_FRAME_TIMEOUT_MS = 30_000;

/**
 * Bytes queued for a peer beyond which it is cut off as SLOW_CONSUMER: one
 * maximal frame plus 4 MiB, so a legal 16 MiB reply always fits. Services
 * that can pause their input (echo) never get near it; broadcast services do.
 */
export const DEFAULT_MAX_PENDING_WRITE = DEFAULT_MAX_FRAME + 4 * MiB;

/** Output that has not drained for this long marks a SLOW_CONSUMER (ms). */
export const DEFAULT_WRITE_TIMEOUT_MS = 30_000;

/** How long a graceful shutdown waits for open connections before closing them (ms). */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;

/** Client side: how long a TCP connect may take (ms). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Client side: how long to wait for a reply (ms). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Largest UDP datagram a sockit UDP server processes (bytes). Larger ones are
 * dropped whole, never parsed in part. 65 507 is the IPv4 maximum payload.
 */
export const DEFAULT_MAX_DATAGRAM = 65_507;

/** Per-source UDP token bucket: sustained datagrams per second, and burst. */
export const DEFAULT_UDP_RATE_PER_SEC = 200;
export const DEFAULT_UDP_BURST = 400;

/** Sources tracked by a UDP rate limiter before the oldest are forgotten. */
export const DEFAULT_UDP_MAX_TRACKED_SOURCES = 65_536;

/** A plain-text line (raw modes) longer than this is cut into pieces (bytes). */
export const DEFAULT_MAX_LINE = 64 * KiB;

/**
 * Raw text modes (echo hello, chat text): a read that ends inside a line is
 * taken as the whole line once no more bytes came for this long (ms). A
 * tutorial client sends `b'Michael'` with no newline and waits in recv(),
 * as the original servers' single recv() allowed; a line TCP splits across
 * reads arrives well within this and stays one line.
 */
export const DEFAULT_LINE_SETTLE_MS = 100;

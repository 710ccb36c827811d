import { UsageError } from '../../errors.js';
import { DEFAULT_MAX_HEADER } from '../../limits.js';
import { parseAddress, type Address } from '../../transport/address.js';
import { WEB_PORT } from '../../ports.js';

/** Default port (src/ports.ts, SPEC §2). */
export { WEB_PORT };

/** The WebSocket path into the chat rooms. */
export const CHAT_WS_PATH = '/ws';

/**
 * Largest WebSocket message on the chat path (bytes): one envelope header,
 * the same bound as on the TCP chat port (SPEC §1.2). A bigger one closes
 * the WebSocket with 1009 before it is buffered.
 */
export const DEFAULT_WEB_MAX_CHAT_MESSAGE = DEFAULT_MAX_HEADER;

/**
 * Bytes queued for one browser (WebSocket `bufferedAmount`) before a chat
 * client is cut off as SLOW_CONSUMER, as the broker does for a TCP client.
 */
export const DEFAULT_WEB_MAX_QUEUE = 1024 * 1024;

/**
 * A bridge stops reading its TCP target while this many bytes wait for the
 * browser, and reads again below half of it: a browser that stops reading
 * pauses the target (backpressure), it does not fill our memory.
 */
export const DEFAULT_BRIDGE_HIGH_WATER = 1024 * 1024;

/**
 * Bytes a bridge queues for its TCP target before it stops reading the
 * browser. Node's 16 KiB default would pause both directions after every
 * 64 KiB message (the bench measured half the throughput and twice the CPU
 * per reply); this lets two such messages through and still bounds what the
 * gateway holds for a target that does not read.
 */
export const BRIDGE_TARGET_HIGH_WATER = 128 * 1024;

/** WebSocket connections at once (chat and bridges); the next gets HTTP 503. */
export const DEFAULT_WEB_MAX_CONNECTIONS = 10_000;

/** A WebSocket is pinged after this much silence and dropped if the next ping finds it silent (ms). */
export const DEFAULT_WEB_HEARTBEAT_MS = 30_000;

/** How long a client cut off gets to read its notice before the socket is destroyed (ms). */
export const DEFAULT_WEB_NOTICE_GRACE_MS = 2_000;

/** Longest WebSocket close reason (bytes), RFC 6455 §5.5: a control frame payload is ≤ 125 B, 2 of them the code. */
export const MAX_CLOSE_REASON = 123;

/**
 * WebSocket close codes the gateway sends (RFC 6455 §7.4). The page shows
 * the code and the reason, `CODE: message` with a sockit error code.
 */
export const CLOSE_CODES = {
  /** The target (broker or bridged service) closed the connection in order. */
  normal: 1000,
  /** The gateway is shutting down. */
  goingAway: 1001,
  /** A bound was crossed: SLOW_CONSUMER, PING_TIMEOUT, a protocol error of the target's. */
  policy: 1008,
  /** The target failed (reset, refused). */
  targetFailed: 1011,
  /** The target could not be reached, or BUSY: try again later. */
  tryLater: 1013,
} as const;

/** One `--bridge /PATH=HOST:PORT`: a WebSocket path and the framed TCP service behind it. */
export interface BridgeRoute {
  path: string;
  target: Address;
}

/** A bridge path: `/` then letters, digits, `_ - .` segments; not the page's own paths. */
const BRIDGE_PATH_RE = /^(\/[A-Za-z0-9_.-]+)+$/;

/** Parses `/echo=127.0.0.1:7007`. */
export function parseBridge(text: string): BridgeRoute {
  const eq = text.indexOf('=');
  if (eq < 0) {
    throw new UsageError('BAD_OPTION', `--bridge wants /PATH=HOST:PORT, got "${text}"`);
  }
  const path = text.slice(0, eq);
  if (!BRIDGE_PATH_RE.test(path) || path.split('/').some((s) => s === '.' || s === '..')) {
    throw new UsageError(
      'BAD_OPTION',
      `--bridge path "${path}" must look like /echo (letters, digits, _ - .)`,
    );
  }
  if (path === CHAT_WS_PATH) {
    throw new UsageError('BAD_OPTION', `--bridge path ${CHAT_WS_PATH} is the chat's own`);
  }
  const target = parseAddress(text.slice(eq + 1), { port: 0 });
  if (target.kind === 'inet' && target.port === 0) {
    throw new UsageError('BAD_OPTION', `--bridge ${path} needs a port: ${path}=HOST:PORT`);
  }
  return { path, target };
}

/**
 * An origin as browsers send it (`scheme://host[:port]`, default port
 * dropped, lower case), or undefined for anything that is not one.
 */
export function normalizeOrigin(text: string): string | undefined {
  if (text === 'null') return undefined;
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/** Parses an `--allow-origin URL`. */
export function parseAllowedOrigin(text: string): string {
  const origin = normalizeOrigin(text);
  if (origin === undefined) {
    throw new UsageError(
      'BAD_OPTION',
      `--allow-origin wants an origin such as https://chat.example.org, got "${text}"`,
    );
  }
  return origin;
}

/**
 * A close reason within the 123 bytes a close frame allows, cut at a
 * character boundary.
 */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= MAX_CLOSE_REASON) return text;
  let cut = text.slice(0, MAX_CLOSE_REASON);
  while (Buffer.byteLength(`${cut}…`) > MAX_CLOSE_REASON) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/**
 * Every failure sockit reports carries a stable UPPER_SNAKE `code`. Tests, the
 * CLI and peers (in `{"type":"error"}` envelopes) match on the code, never on
 * the message text. docs/ERRORS.md lists them all.
 */
export const ERROR_CODES = [
  // The peer broke the wire format (SPEC §1).
  'FRAME_TOO_LARGE',
  'INCOMPLETE',
  'BAD_HEADER',
  'HEADER_TOO_LARGE',
  'LINE_TOO_LONG',
  'BAD_REPLY',
  'KISS_OF_DEATH',
  // A server limit cut the connection.
  'BUSY',
  'IDLE_TIMEOUT',
  'FRAME_TIMEOUT',
  'SLOW_CONSUMER',
  'RATE_LIMITED',
  'DATAGRAM_TOO_LARGE',
  'SHUTTING_DOWN',
  'ACCESS_DENIED',
  // The network or the operating system said no.
  'CONNECTION_REFUSED',
  'CONNECT_TIMEOUT',
  'HOST_UNREACHABLE',
  'HOST_NOT_FOUND',
  'CONNECTION_RESET',
  'CONNECTION_CLOSED',
  'TIMEOUT',
  'ADDRESS_IN_USE',
  'ALREADY_RUNNING',
  'NOT_A_SOCKET',
  'PERMISSION_DENIED',
  'NETWORK_ERROR',
  // The caller asked for something impossible.
  'BAD_ADDRESS',
  'BAD_OPTION',
  'INVALID_STATE',
  // Authentication (exec, files): docs/SECURITY.md.
  'AUTH_FAILED',
  'TOKEN_MISSING',
  'TOKEN_INSECURE',
  // A request a service understood and refused.
  'BAD_REQUEST',
  'NOT_ALLOWED',
  // exec.
  'COMMAND_NOT_FOUND',
  'SPAWN_FAILED',
  'COMMAND_TIMEOUT',
  'OUTPUT_LIMIT',
  // files.
  'BAD_NAME',
  'EXISTS',
  'NOT_FOUND',
  'TOO_LARGE',
  'QUOTA_EXCEEDED',
  'NO_SPACE',
  'HASH_MISMATCH',
  'BAD_OFFSET',
  'IO_ERROR',
  // chat and messenger.
  'NICK_TAKEN',
  'BAD_NICK',
  'BAD_ROOM',
  'NO_SUCH_NICK',
  'NOT_IN_ROOM',
  'MESSAGE_TOO_LONG',
  'PING_TIMEOUT',
  'CLUSTER_UNAVAILABLE',
  'UNKNOWN_CONTACT',
  'UNDELIVERED',
  // TLS (docs/SECURITY.md).
  'TLS_ERROR',
  'NOT_TLS',
  'CERT_UNTRUSTED',
  'CERT_INVALID',
  'FINGERPRINT_MISMATCH',
  'FINGERPRINT_CHANGED',
  'TLS_REQUIRED',
  // A peer answered with a code this version does not know (kept in the message).
  'REMOTE_ERROR',
  // A bug in sockit: an invariant broke, or something not a SockitError escaped.
  'INTERNAL',
] as const;

/** Every stable error code (docs/ERRORS.md). */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Whether a string is one of sockit's stable error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** The base of every error sockit throws or reports: a stable `code` (docs/ERRORS.md) and a one-line message for people. Subclasses say which layer: {@link UsageError}, {@link NetworkError}, {@link ProtocolError}, {@link LimitError}, {@link ServiceError}. */
export class SockitError extends Error {
  override name = 'SockitError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The peer sent bytes that break the wire protocol. */
export class ProtocolError extends SockitError {
  override name = 'ProtocolError';
}

/** A bound (connections, time, memory, rate) was reached. */
export class LimitError extends SockitError {
  override name = 'LimitError';
}

/** The operating system or the network failed; `cause` keeps the original error. */
export class NetworkError extends SockitError {
  override name = 'NetworkError';
}

/** Something the local caller asked for cannot be done (bad address, bad option). */
export class UsageError extends SockitError {
  override name = 'UsageError';
}

/** A service refused a request, or the server answered with an error envelope. */
export class ServiceError extends SockitError {
  override name = 'ServiceError';
}

/** A bug in sockit, never the peer's or the caller's doing: always `INTERNAL`. */
export class InternalError extends SockitError {
  override name = 'InternalError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('INTERNAL', message, options);
  }
}

/**
 * The error a peer reported in `{"type":"error","code","message"}`. A code
 * this version does not know becomes REMOTE_ERROR, keeping the code in the text.
 */
export function fromErrorEnvelope(header: Readonly<Record<string, unknown>>): ServiceError {
  const message = typeof header.message === 'string' ? header.message : 'no message';
  if (isErrorCode(header.code)) return new ServiceError(header.code, message);
  const code = typeof header.code === 'string' ? header.code.slice(0, 64) : 'unknown';
  return new ServiceError('REMOTE_ERROR', `${code}: ${message}`);
}

const ERRNO_TO_CODE: Readonly<Record<string, ErrorCode>> = {
  ECONNREFUSED: 'CONNECTION_REFUSED',
  ECONNRESET: 'CONNECTION_RESET',
  EPIPE: 'CONNECTION_CLOSED',
  ETIMEDOUT: 'CONNECT_TIMEOUT',
  EHOSTUNREACH: 'HOST_UNREACHABLE',
  ENETUNREACH: 'HOST_UNREACHABLE',
  EHOSTDOWN: 'HOST_UNREACHABLE',
  ENETDOWN: 'HOST_UNREACHABLE',
  ENOTFOUND: 'HOST_NOT_FOUND',
  EAI_AGAIN: 'HOST_NOT_FOUND',
  EADDRINUSE: 'ADDRESS_IN_USE',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
  EADDRNOTAVAIL: 'BAD_ADDRESS',
  ENOENT: 'CONNECTION_REFUSED', // a Unix socket path with nothing behind it
  EMSGSIZE: 'DATAGRAM_TOO_LARGE',
};

const CODE_TO_PHRASE: Partial<Record<ErrorCode, string>> = {
  CONNECTION_REFUSED: 'connection refused',
  CONNECTION_RESET: 'connection reset by peer',
  CONNECTION_CLOSED: 'connection closed by peer',
  CONNECT_TIMEOUT: 'connection timed out',
  HOST_UNREACHABLE: 'host unreachable',
  HOST_NOT_FOUND: 'host not found',
  ADDRESS_IN_USE: 'address already in use',
  PERMISSION_DENIED: 'permission denied',
  BAD_ADDRESS: 'address not available',
  DATAGRAM_TOO_LARGE: 'datagram too large',
};

function errnoOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/**
 * Turns an OS error (ECONNREFUSED, ENOTFOUND, …) into a NetworkError with a
 * one-line message naming what was attempted, keeping the original as `cause`.
 */
export function fromSystemError(err: unknown, what: string): SockitError {
  if (err instanceof SockitError) return err;
  const errno = errnoOf(err);
  const code: ErrorCode =
    (errno !== undefined ? ERRNO_TO_CODE[errno] : undefined) ?? 'NETWORK_ERROR';
  const phrase = CODE_TO_PHRASE[code] ?? (err instanceof Error ? err.message : String(err));
  return new NetworkError(code, `${what}: ${phrase}`, { cause: err });
}

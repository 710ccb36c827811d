import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as v from 'valibot';
import {
  LimitError,
  NetworkError,
  ProtocolError,
  ServiceError,
  fromErrorEnvelope,
} from '../../errors.js';
import type { Logger } from '../../log.js';
import type { EnvelopeHeader } from '../../protocol/envelope.js';
import type { ChannelHandlers, EnvelopeChannel } from '../../transport/envelope-channel.js';
import {
  DEFAULT_AUTH_FAILURE_LIMIT,
  DEFAULT_AUTH_FAILURE_WINDOW_MS,
  DEFAULT_AUTH_MAX_TRACKED,
  DEFAULT_AUTH_TIMEOUT_MS,
  PRE_AUTH_MAX_HEADER,
} from './limits.js';

/**
 * The hello/auth handshake of exec and files (SPEC §2.3): the server greets
 * with a fresh nonce, the client answers HMAC-SHA256(token, nonce), and the
 * token itself never crosses the wire. Both HMAC inputs are the UTF-8 text of
 * the token and of the nonce's hex, so a Python client is one line:
 * `hmac.new(token.encode(), nonce.encode(), "sha256").hexdigest()`.
 */
export const PROTOCOL_VERSION = 1;

/** 256-bit nonces: never repeated, so a recorded answer is useless elsewhere. */
const NONCE_BYTES = 32;

export { DEFAULT_AUTH_TIMEOUT_MS };

const helloSchema = v.looseObject({
  type: v.literal('hello'),
  service: v.pipe(v.string(), v.maxLength(64)),
  version: v.pipe(v.number(), v.safeInteger()),
  nonce: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{32,128}$/))),
  auth: v.optional(v.picklist(['hmac-sha256', 'none'])),
});

const authSchema = v.object({
  type: v.literal('auth'),
  mac: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
});

export function computeMac(token: string, nonce: string): string {
  return createHmac('sha256', token).update(nonce).digest('hex');
}

function macMatches(token: string, nonce: string, mac: string): boolean {
  const expected = Buffer.from(computeMac(token, nonce), 'hex');
  const given = Buffer.from(mac, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface AuthFailureOptions {
  /** Failures from one address within the window before it is refused. @default 20 */
  limit?: number;
  /** @default 60 000 ms */
  windowMs?: number;
  /** Addresses remembered; the oldest are forgotten first. @default 10 000 */
  maxTracked?: number;
}

/**
 * Brute-force guard: an address with too many failed answers in a window is
 * refused with RATE_LIMITED before it is sent a nonce.
 */
export class AuthFailures {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly maxTracked: number;
  private readonly byHost = new Map<string, { count: number; since: number }>();

  constructor(options: AuthFailureOptions = {}) {
    this.limit = options.limit ?? DEFAULT_AUTH_FAILURE_LIMIT;
    this.windowMs = options.windowMs ?? DEFAULT_AUTH_FAILURE_WINDOW_MS;
    this.maxTracked = options.maxTracked ?? DEFAULT_AUTH_MAX_TRACKED;
  }

  blocked(host: string, now = Date.now()): boolean {
    const entry = this.byHost.get(host);
    if (!entry) return false;
    if (now - entry.since >= this.windowMs) {
      this.byHost.delete(host);
      return false;
    }
    return entry.count >= this.limit;
  }

  record(host: string, now = Date.now()): void {
    const entry = this.byHost.get(host);
    if (entry && now - entry.since < this.windowMs) {
      entry.count++;
      return;
    }
    this.byHost.delete(host);
    if (this.byHost.size >= this.maxTracked) {
      const oldest = this.byHost.keys().next().value;
      if (oldest !== undefined) this.byHost.delete(oldest);
    }
    this.byHost.set(host, { count: 1, since: now });
  }
}

export interface ServerAuthOptions {
  /** Named in the hello, so a client can tell it reached the right service. */
  service: string;
  /** The shared secret; undefined serves without authentication (files --insecure-no-auth). */
  token: string | undefined;
  /** @default 10 000 ms */
  timeoutMs?: number;
  failures: AuthFailures;
  /** The peer's address, for the brute-force guard and the logs. */
  host: string;
  log: Logger;
  /** No-auth only: skip the hello (tutorial clients never read it). */
  silent?: boolean;
}

/**
 * Starts `channel` with the handshake in front of `handlers`: nothing the
 * client sends reaches them before it has proved it holds the token. A wrong,
 * malformed, late or missing answer gets AUTH_FAILED and a close.
 */
export function startAuthenticated(
  channel: EnvelopeChannel,
  options: ServerAuthOptions,
  handlers: ChannelHandlers,
): void {
  const conn = channel.connection;
  const token = options.token;
  if (token === undefined) {
    if (!options.silent) {
      channel.send({
        type: 'hello',
        service: options.service,
        version: PROTOCOL_VERSION,
        auth: 'none',
      });
    }
    channel.start(handlers);
    return;
  }
  const { host, log, failures } = options;
  if (failures.blocked(host)) {
    log.warn({ event: 'auth_refused', conn: conn.id, remote: conn.remote, code: 'RATE_LIMITED' });
    channel.start({ header: () => undefined });
    channel.fail(
      new LimitError('RATE_LIMITED', 'too many failed authentications; try again later'),
    );
    return;
  }
  const nonce = randomBytes(NONCE_BYTES).toString('hex');
  const maxHeader = channel.maxHeader;
  const timeoutMs = options.timeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS;
  let settled = false;
  const refuse = (reason: string): void => {
    if (settled) return; // one failure per connection, however it then closes
    settled = true;
    clearTimeout(timer);
    failures.record(host);
    log.warn({ event: 'auth_failed', conn: conn.id, remote: conn.remote, reason });
    channel.fail(new ServiceError('AUTH_FAILED', `authentication failed: ${reason}`));
  };
  const timer = setTimeout(() => {
    refuse(`no answer within ${timeoutMs} ms`);
  }, timeoutMs);
  channel.maxHeader = Math.min(maxHeader, PRE_AUTH_MAX_HEADER);
  channel.start({
    header: (header) => {
      const auth = v.safeParse(authSchema, header);
      if (!auth.success) {
        refuse(
          header.type === 'auth' ? 'malformed answer' : `"${header.type.slice(0, 32)}" before auth`,
        );
        return;
      }
      if (!macMatches(token, nonce, auth.output.mac)) {
        refuse('wrong answer');
        return;
      }
      settled = true;
      clearTimeout(timer);
      channel.maxHeader = maxHeader;
      log.info({ event: 'auth_ok', conn: conn.id, remote: conn.remote });
      channel.setHandlers(handlers);
      channel.send({ type: 'ready' });
    },
    end: () => {
      refuse('closed before answering');
    },
    close: () => {
      clearTimeout(timer);
    },
  });
  channel.send({
    type: 'hello',
    service: options.service,
    version: PROTOCOL_VERSION,
    nonce,
    auth: 'hmac-sha256',
  });
}

export interface ClientAuthOptions {
  service: string;
  /** Needed unless the server says it runs without authentication. */
  token: string | undefined;
  /** @default 10 000 ms */
  timeoutMs?: number;
}

/**
 * The client side: starts `channel`, answers the hello, and resolves once
 * the server says `ready`, with the channel paused so that nothing the
 * server sends next is missed: set your handlers, then `resume()`.
 */
export function clientHandshake(
  channel: EnvelopeChannel,
  options: ClientAuthOptions,
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        reject(error);
        channel.connection.destroy();
        return;
      }
      channel.pause();
      resolve();
    };
    const timer = setTimeout(() => {
      settle(new NetworkError('TIMEOUT', `no greeting from the server within ${timeoutMs} ms`));
    }, timeoutMs);
    const onHello = (header: EnvelopeHeader): void => {
      if (header.type === 'error') {
        settle(fromErrorEnvelope(header));
        return;
      }
      const hello = v.safeParse(helloSchema, header);
      if (!hello.success) {
        settle(
          new ProtocolError(
            'BAD_REPLY',
            `expected a ${options.service} hello, got "${header.type.slice(0, 32)}"`,
          ),
        );
        return;
      }
      const { service, version, nonce, auth } = hello.output;
      if (service !== options.service) {
        settle(
          new ProtocolError(
            'BAD_REPLY',
            `that port runs the ${service.slice(0, 32)} service, not ${options.service}`,
          ),
        );
        return;
      }
      if (version !== PROTOCOL_VERSION) {
        settle(
          new ProtocolError(
            'BAD_REPLY',
            `server speaks protocol version ${version}, this client ${PROTOCOL_VERSION}`,
          ),
        );
        return;
      }
      if (auth === 'none') {
        settle();
        return;
      }
      if (nonce === undefined) {
        settle(new ProtocolError('BAD_REPLY', 'hello without a nonce'));
        return;
      }
      if (options.token === undefined) {
        settle(new ServiceError('TOKEN_MISSING', 'the server requires a token and none was found'));
        return;
      }
      channel.send({ type: 'auth', mac: computeMac(options.token, nonce) });
      channel.setHandlers({ header: onReady, end: onEnd, close: onEnd });
    };
    const onReady = (header: EnvelopeHeader): void => {
      if (header.type === 'ready') settle();
      else if (header.type === 'error') settle(fromErrorEnvelope(header));
      else
        settle(
          new ProtocolError('BAD_REPLY', `expected "ready", got "${header.type.slice(0, 32)}"`),
        );
    };
    const onEnd = (): void => {
      settle(
        new NetworkError(
          'CONNECTION_CLOSED',
          'server closed the connection during the handshake (a TLS port? try --tls)',
        ),
      );
    };
    channel.start({ header: onHello, end: onEnd, close: onEnd });
  });
}

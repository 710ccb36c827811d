import type { Socket } from 'node:net';
import {
  TLSSocket,
  connect as tlsConnect,
  createSecureContext,
  rootCertificates,
  type ConnectionOptions,
  type SecureContext,
} from 'node:tls';
import { isIP } from 'node:net';
import { NetworkError, SockitError } from '../errors.js';

/** ALPN protocol id of sockit's wire protocol v1 (SPEC §1). */
export const SOCKIT_ALPN = 'sockit/1';

/** A TLS ClientHello record starts with content type 22 (handshake). */
export const TLS_HANDSHAKE_BYTE = 0x16;

/** How long a TLS handshake may take, either side (ms). */
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** TLS for a server: its certificate chain and key (PEM). */
export interface TlsServerConfig {
  /** PEM certificate chain and private key. */
  cert: string | Buffer;
  key: string | Buffer;
  /** @default 10 000 ms */
  handshakeTimeoutMs?: number;
}

/** What a client learns of the server's certificate, for its trust decision. */
export interface TlsPeer {
  /** `host:port` as the user wrote it: the known-hosts key. */
  target: string;
  /** Chain and host name verified against the CAs (system, or `ca`). */
  authorized: boolean;
  /** OpenSSL's or Node's reason when not: DEPTH_ZERO_SELF_SIGNED_CERT, CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID… */
  authorizationError: string | undefined;
  /** `SHA256:AB:CD:…` of the leaf certificate (DER). */
  fingerprint: string;
  subject: string;
  validTo: string;
}

/** TLS for a client: extra CAs, the name checked, and the trust decision (pinning, TOFU). */
export interface TlsClientConfig {
  /** Extra CA certificates (PEM), trusted besides the system's. */
  ca?: string | Buffer;
  /** SNI and the name checked; default: the host when it is a name (never for an IP). */
  servername?: string;
  /**
   * The trust decision after the handshake, before a byte of ours is sent:
   * throw a SockitError to refuse. Default: CA-verified certificates only.
   */
  verify?: (peer: TlsPeer) => void | Promise<void>;
}

/** Chain errors that mean "no CA we trust signed this" — what pinning and TOFU are for. */
const UNTRUSTED_ISSUER = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/**
 * Whether a failed verification is only about who signed the certificate (so
 * a pinned fingerprint may vouch for it); an expired, not-yet-valid or
 * wrong-host certificate is refused whatever is pinned.
 */
export function isUntrustedIssuer(peer: TlsPeer): boolean {
  return !peer.authorized && UNTRUSTED_ISSUER.has(peer.authorizationError ?? '');
}

/** `SHA256:AB:CD:…` from a fingerprint in any usual spelling (colons, case, prefix). */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text
    .trim()
    .replace(/^sha256:/i, '')
    .replace(/[:\s]/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return `SHA256:${hex.match(/../g)?.join(':') ?? ''}`;
}

export function secureContext(config: TlsServerConfig): SecureContext {
  return createSecureContext({ cert: config.cert, key: config.key, minVersion: 'TLSv1.2' });
}

/**
 * The server side of one accepted socket: a TLSSocket over it. The caller has
 * already read (and unshifted) the first byte; Node feeds buffered bytes to
 * the TLS layer when it wraps the socket.
 */
export function wrapServerSocket(socket: Socket, context: SecureContext): TLSSocket {
  return new TLSSocket(socket, {
    isServer: true,
    secureContext: context,
    ALPNProtocols: [SOCKIT_ALPN],
    requestCert: false,
  });
}

function defaultVerify(peer: TlsPeer): void {
  if (peer.authorized) return;
  throw untrustedError(peer);
}

export function untrustedError(peer: TlsPeer): SockitError {
  if (!isUntrustedIssuer(peer)) {
    return new NetworkError(
      'CERT_INVALID',
      `the certificate of ${peer.target} is not valid: ${peer.authorizationError ?? 'unknown reason'}`,
    );
  }
  return new NetworkError(
    'CERT_UNTRUSTED',
    `the certificate of ${peer.target} is not signed by a trusted CA; its fingerprint is ${peer.fingerprint}. ` +
      `If that is the server's, connect again with --fingerprint ${peer.fingerprint} or --trust-on-first-use`,
  );
}

/** A handshake failure in one line, with the likely reason when the peer is not TLS at all. */
export function tlsHandshakeError(err: unknown, target: string): SockitError {
  if (err instanceof SockitError) return err;
  const code = (err as { code?: string }).code ?? '';
  const text = err instanceof Error ? err.message : String(err);
  if (
    /WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|UNKNOWN_PROTOCOL|RECORD_LAYER_FAILURE|UNEXPECTED_MESSAGE|unexpected message|wrong version/i.test(
      code + text,
    ) ||
    code === 'ECONNRESET' ||
    code === 'EPIPE'
  ) {
    return new NetworkError(
      'TLS_ERROR',
      `TLS handshake with ${target} failed: the server does not seem to speak TLS (is --tls right for this port?)`,
      { cause: err },
    );
  }
  // OpenSSL's messages run to several lines of source paths: keep its reason.
  const reason = (err as { reason?: string }).reason ?? (code !== '' ? code : text.split('\n')[0]);
  return new NetworkError('TLS_ERROR', `TLS handshake with ${target} failed: ${reason}`, {
    cause: err,
  });
}

/**
 * Opens a TLS client connection (TLS 1.2+, ALPN sockit/1, SNI for names) and
 * resolves once the handshake is done and `verify` accepted the server.
 */
export function connectTls(
  options: {
    host: string;
    port: number;
    target: string;
    timeoutMs: number;
    allowHalfOpen: boolean;
  },
  config: TlsClientConfig,
): Promise<TLSSocket> {
  const servername = config.servername ?? (isIP(options.host) === 0 ? options.host : undefined);
  return new Promise((resolve, reject) => {
    const connectOptions: ConnectionOptions & { allowHalfOpen: boolean } = {
      host: options.host,
      port: options.port,
      ...(servername !== undefined ? { servername } : {}),
      ALPNProtocols: [SOCKIT_ALPN],
      minVersion: 'TLSv1.2',
      // Verification is ours to judge below (pinning, TOFU), never skipped: a
      // failed check is refused before any byte of ours is sent.
      rejectUnauthorized: false,
      ...(config.ca !== undefined ? { ca: [...rootCertificates, String(config.ca)] } : {}),
      // Not in @types/node's ConnectionOptions, but tls.connect passes it to the TLSSocket.
      allowHalfOpen: options.allowHalfOpen,
    };
    const socket = tlsConnect(connectOptions);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new NetworkError(
          'CONNECT_TIMEOUT',
          `connect to ${options.target}: TLS handshake not done after ${options.timeoutMs} ms`,
        ),
      );
    }, options.timeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(tlsHandshakeError(err, options.target));
    };
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = socket.getPeerX509Certificate();
      // A string code in Node 20 (null when authorized); older versions gave an Error.
      const authError: unknown = socket.authorizationError;
      const peer: TlsPeer = {
        target: options.target,
        authorized: socket.authorized,
        authorizationError:
          typeof authError === 'string'
            ? authError
            : authError instanceof Error
              ? ((authError as { code?: string }).code ?? authError.message)
              : undefined,
        fingerprint: cert ? `SHA256:${cert.fingerprint256}` : 'none',
        subject: cert?.subject ?? '',
        validTo: cert?.validTo ?? '',
      };
      Promise.resolve()
        .then(() => (config.verify ?? defaultVerify)(peer))
        .then(
          () => {
            socket.off('error', onError);
            resolve(socket);
          },
          (err: unknown) => {
            socket.off('error', onError);
            socket.on('error', () => undefined);
            socket.destroy();
            reject(err instanceof SockitError ? err : tlsHandshakeError(err, options.target));
          },
        );
    });
  });
}

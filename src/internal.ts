// What the CLI, the tests and the benches share beyond the public API, from
// the shared layers (errors, protocol, transport, services/common): parsers
// of command-line values, protocol internals, handshake pieces, paths. Not in
// package.json "exports": a library user cannot import it, so these may
// change without a major version. Each service keeps its own internals in
// services/<name>/internal.ts, so the CLI loads only what it uses.

export { fromErrorEnvelope } from './errors.js';
export { envelopeHeaderSchema, errorHeader } from './protocol/envelope.js';
export { checkFrameLength, frameToBuffer, writeFrameHeader } from './protocol/frame-encoder.js';
export { parseFramingMode } from './protocol/framing.js';
export {
  AuthFailures,
  clientHandshake,
  computeMac,
  DEFAULT_AUTH_TIMEOUT_MS,
  PROTOCOL_VERSION,
  startAuthenticated,
} from './services/common/handshake.js';
export type {
  AuthFailureOptions,
  ClientAuthOptions,
  ServerAuthOptions,
} from './services/common/handshake.js';
export {
  configDir,
  dataDir,
  defaultFilesRoot,
  defaultKnownHostsPath,
  defaultTlsDir,
  defaultTokenPath,
} from './services/common/paths.js';
export { findToken, requireToken } from './services/common/token.js';
export { parseAccessRule } from './transport/access-list.js';
export { isLoopbackHost, normalizeHost } from './transport/address.js';
export { CLIENT_CONNECTION_LIMITS } from './transport/connection.js';
export {
  DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
  isUntrustedIssuer,
  normalizeFingerprint,
  SOCKIT_ALPN,
} from './transport/tls.js';
export { UdpEndpoint } from './transport/udp-endpoint.js';
export type { UdpEndpointHandlers } from './transport/udp-endpoint.js';
export { SOCKIT_UDP_PORTS } from './transport/udp-server.js';

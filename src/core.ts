// sockit/core: what every service and client shares (errors, limits, ports,
// logging, the wire protocol, transports, the exec/files authentication),
// without any service. An explicit list, nothing re-exported wholesale.
// `sockit serve` loads this and only the services it runs (sockit/echo, …),
// which keeps a running echo server's heap under V8's 8 MB marking line
// (docs/PERFORMANCE.md); src/index.ts is this plus every service.

// Errors
export {
  ERROR_CODES,
  InternalError,
  LimitError,
  NetworkError,
  ProtocolError,
  SockitError,
  ServiceError,
  UsageError,
  isErrorCode,
} from './errors.js';
export type { ErrorCode } from './errors.js';

// Limits
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_FRAME_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_DATAGRAM,
  DEFAULT_MAX_FRAME,
  DEFAULT_MAX_HEADER,
  DEFAULT_MAX_LINE,
  DEFAULT_MAX_PENDING_WRITE,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DEFAULT_WRITE_TIMEOUT_MS,
  MAX_BODY_SIZE,
} from './limits.js';

// Default ports (SPEC §2)
export {
  CHAT_PORT,
  ECHO_PORT,
  EXEC_PORT,
  FILES_PORT,
  MESSENGER_PORT,
  RFC868_PORT,
  SNTP_PORT,
  STRFTIME_PORT,
  UNIX32_PORT,
  WEB_PORT,
} from './ports.js';

// Logging
export { silentLogger } from './log.js';
export type { LogFields, LogFn, Logger } from './log.js';

// Wire protocol (pure)
export { FRAME_HEADER_BYTES } from './protocol/byte-order.js';
export type { ByteOrder } from './protocol/byte-order.js';
export { FrameDecoder } from './protocol/frame-decoder.js';
export type { FrameDecoderOptions, FrameHandler } from './protocol/frame-decoder.js';
export { encodeFrame, encodeFrameHeader } from './protocol/frame-encoder.js';
export type { FrameEncoderOptions } from './protocol/frame-encoder.js';
export { EnvelopeDecoder, encodeEnvelopeHeader, parseEnvelopeHeader } from './protocol/envelope.js';
export type {
  EnvelopeDecoderOptions,
  EnvelopeEncodeOptions,
  EnvelopeHandlers,
  EnvelopeHeader,
  HeaderNormalizer,
} from './protocol/envelope.js';
export { FRAMING_MODES, detectFraming } from './protocol/framing.js';
export type { FramingMode } from './protocol/framing.js';
export { LineDecoder } from './protocol/line-decoder.js';
export { escapeText } from './protocol/terminal-text.js';
export { encodeTextNotice, parseTextNotice } from './protocol/text-notice.js';

// Transports
export { formatAddress, parseAddress } from './transport/address.js';
export type { Address } from './transport/address.js';
export { DEFAULT_CONNECTION_LIMITS } from './transport/connection.js';
export type {
  CloseInfo,
  Connection,
  ConnectionHandlers,
  ConnectionLimits,
} from './transport/connection.js';
export { FrameWriter } from './transport/frame-writer.js';
export { AccessList } from './transport/access-list.js';
export type { AccessRule } from './transport/access-list.js';
export { RateLimiter } from './transport/rate-limiter.js';
export type { RateLimitOptions } from './transport/rate-limiter.js';
export { connect } from './transport/tcp-client.js';
export type { ConnectOptions } from './transport/tcp-client.js';
export type { TlsClientConfig, TlsPeer, TlsServerConfig } from './transport/tls.js';
export { EnvelopeChannel } from './transport/envelope-channel.js';
export type { ChannelHandlers, EnvelopeChannelOptions } from './transport/envelope-channel.js';
export { TcpServer } from './transport/tcp-server.js';
export type { TcpServerOptions } from './transport/tcp-server.js';
export { UdpClient } from './transport/udp-client.js';
export type { UdpReply, UdpRequestOptions } from './transport/udp-client.js';
export { UdpServer } from './transport/udp-server.js';
export type {
  UdpHandler,
  UdpPeer,
  UdpServerOptions,
  UdpServerStats,
} from './transport/udp-server.js';

// What services share
export type { Service } from './services/common/service.js';
export { ensureToken } from './services/common/token.js';
export { ensureServerIdentity, fingerprintOf } from './services/common/certificate.js';
export type { ServerIdentity } from './services/common/certificate.js';
export { readKnownHosts, trustPolicy } from './services/common/trust.js';
export type { TrustOptions } from './services/common/trust.js';

export type { ResolvedFraming } from './protocol/framing.js';
export type { LoadedToken, TokenSource } from './services/common/token.js';

// The public API of sockit: an explicit list, nothing re-exported wholesale.

// Errors
export {
  ERROR_CODES,
  LimitError,
  NetworkError,
  ProtocolError,
  SockitError,
  ServiceError,
  UsageError,
  fromErrorEnvelope,
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

// Logging
export { createLogger, silentLogger } from './log.js';
export type { Logger } from './log.js';

// Wire protocol (pure)
export { FRAME_HEADER_BYTES } from './protocol/byte-order.js';
export type { ByteOrder } from './protocol/byte-order.js';
export { FrameDecoder } from './protocol/frame-decoder.js';
export type { FrameDecoderOptions, FrameHandler } from './protocol/frame-decoder.js';
export {
  checkFrameLength,
  encodeFrame,
  encodeFrameHeader,
  frameToBuffer,
  writeFrameHeader,
} from './protocol/frame-encoder.js';
export type { FrameEncoderOptions } from './protocol/frame-encoder.js';
export {
  EnvelopeDecoder,
  encodeEnvelopeHeader,
  envelopeHeaderSchema,
  errorHeader,
  parseEnvelopeHeader,
} from './protocol/envelope.js';
export type {
  EnvelopeDecoderOptions,
  EnvelopeEncodeOptions,
  EnvelopeHandlers,
  EnvelopeHeader,
  HeaderNormalizer,
} from './protocol/envelope.js';
export { FRAMING_MODES, detectFraming, parseFramingMode } from './protocol/framing.js';
export type { FramingMode, ResolvedFraming } from './protocol/framing.js';
export { LineDecoder } from './protocol/line-decoder.js';
export { encodeTextNotice, parseTextNotice } from './protocol/text-notice.js';

// Transports
export { formatAddress, isLoopbackHost, normalizeHost, parseAddress } from './transport/address.js';
export type { Address } from './transport/address.js';
export {
  CLIENT_CONNECTION_LIMITS,
  Connection,
  DEFAULT_CONNECTION_LIMITS,
} from './transport/connection.js';
export type { CloseInfo, ConnectionHandlers, ConnectionLimits } from './transport/connection.js';
export { FrameWriter } from './transport/frame-writer.js';
export { AccessList, parseAccessRule } from './transport/access-list.js';
export type { AccessRule } from './transport/access-list.js';
export { RateLimiter } from './transport/rate-limiter.js';
export type { RateLimitOptions } from './transport/rate-limiter.js';
export { connect } from './transport/tcp-client.js';
export type { ConnectOptions } from './transport/tcp-client.js';
export {
  DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
  SOCKIT_ALPN,
  isUntrustedIssuer,
  normalizeFingerprint,
} from './transport/tls.js';
export type { TlsClientConfig, TlsPeer, TlsServerConfig } from './transport/tls.js';
export { EnvelopeChannel } from './transport/envelope-channel.js';
export type { ChannelHandlers, EnvelopeChannelOptions } from './transport/envelope-channel.js';
export { TcpServer } from './transport/tcp-server.js';
export type { TcpServerOptions } from './transport/tcp-server.js';
export { UdpClient } from './transport/udp-client.js';
export { UdpEndpoint } from './transport/udp-endpoint.js';
export type { UdpEndpointHandlers } from './transport/udp-endpoint.js';
export type { UdpReply, UdpRequestOptions } from './transport/udp-client.js';
export { SOCKIT_UDP_PORTS, UdpServer } from './transport/udp-server.js';
export type {
  UdpHandler,
  UdpPeer,
  UdpServerOptions,
  UdpServerStats,
} from './transport/udp-server.js';

// Authentication shared by exec and files
export {
  AuthFailures,
  DEFAULT_AUTH_TIMEOUT_MS,
  PROTOCOL_VERSION,
  clientHandshake,
  computeMac,
  startAuthenticated,
} from './services/common/handshake.js';
export type {
  AuthFailureOptions,
  ClientAuthOptions,
  ServerAuthOptions,
} from './services/common/handshake.js';
export { ensureToken, findToken, requireToken } from './services/common/token.js';
export type { LoadedToken, TokenSource } from './services/common/token.js';
export {
  configDir,
  dataDir,
  defaultFilesRoot,
  defaultKnownHostsPath,
  defaultTlsDir,
  defaultTokenPath,
} from './services/common/paths.js';
export { ensureServerIdentity, fingerprintOf } from './services/common/certificate.js';
export type { ServerIdentity } from './services/common/certificate.js';
export { readKnownHosts, trustPolicy } from './services/common/trust.js';
export type { TrustOptions } from './services/common/trust.js';

// Services
export {
  ECHO_PORT,
  EchoClient,
  EchoServer,
  EchoUdpClient,
  REPLY_MODES,
  WELCOME,
  parseReplyMode,
  upperAsciiInPlace,
} from './services/echo/index.js';
export type {
  EchoClientOptions,
  EchoListen,
  EchoServerOptions,
  ReplyMode,
} from './services/echo/index.js';
export {
  DEFAULT_STRFTIME_FORMAT,
  ERA1_START_UNIX,
  RFC868_PORT,
  SECONDS_1900_TO_1970,
  SNTP_PORT,
  STRFTIME_PORT,
  TIME_MODES,
  TimeServer,
  UNIX32_PORT,
  decodeRfc868,
  decodeUnix32,
  defaultPortFor,
  encodeRfc868,
  encodeSntpPacket,
  encodeSntpRequest,
  encodeUnix32,
  eraSecondsToUnix,
  fromNtpTimestamp,
  offsetAndDelay,
  parseSntpPacket,
  queryTime,
  strftime,
  systemClock,
  toNtpTimestamp,
} from './services/time/index.js';
export type {
  Clock,
  SntpPacket,
  SntpServerOptions,
  SntpStats,
  TimeListen,
  TimeMode,
  TimeQueryOptions,
  TimeResult,
  TimeServerOptions,
} from './services/time/index.js';
export {
  DEFAULT_MAX_CONNS,
  DEFAULT_UDP_LINGER_MS,
  ReadInspector,
  describeEvent,
  describeRead,
  hexDump,
  payloadFields,
  relayConnect,
  relayListen,
} from './services/relay/index.js';
export type {
  FrameStep,
  ReadInspectorOptions,
  ReadReport,
  RelayConnectOptions,
  RelayEvent,
  RelayIo,
  RelayListenOptions,
  RelayListener,
  RelayOptions,
  RelaySession,
} from './services/relay/index.js';
export {
  CHAT_PORT,
  ChatClient,
  ChatServer,
  DEFAULT_CHAT_MAX_QUEUE,
  DEFAULT_MAX_CHAT_LINE,
  DEFAULT_MAX_TEXT,
  DEFAULT_ROOM,
  LocalChatBus,
  MAX_NICK_LENGTH,
  MAX_ROOMS_PER_CLIENT,
  MAX_ROOM_LENGTH,
  TEXT_HELP,
  canonicalRoom,
  chatRequestSchema,
  checkNick,
  checkText,
  escapeText,
  formatTextEvent,
  nickKey,
  parseChatRequest,
  parseTextLine,
} from './services/chat/index.js';
export type {
  BusPresenceEvent,
  BusPrivateMessage,
  BusRoomMessage,
  ChatBus,
  ChatBusHandlers,
  ChatClientOptions,
  ChatConnection,
  ChatErrorEvent,
  ChatEvent,
  ChatJoinedEvent,
  ChatLeftEvent,
  ChatMessageEvent,
  ChatNickEvent,
  ChatPingEvent,
  ChatRateLimit,
  ChatRequest,
  ChatRosterEvent,
  ChatServerOptions,
  ChatStats,
  ChatWelcomeEvent,
  LocalChatBusOptions,
  MaybePromise,
  TextCommand,
} from './services/chat/index.js';
export {
  DEFAULT_RETRY,
  MAX_MESSENGER_DATAGRAM,
  MAX_MESSENGER_TEXT,
  MESSENGER_PORT,
  MessengerPeer,
  contactAddress,
  decodeDatagram,
  describeSender,
  encodeAck,
  encodeMessage,
  parseContact,
  parseContacts,
  peerKey,
  retryDelay,
} from './services/messenger/index.js';
export type {
  Delivery,
  IncomingMessage,
  MessengerDatagram,
  MessengerPeerOptions,
  MessengerStats,
  RetrySchedule,
} from './services/messenger/index.js';
export {
  EXEC_PORT,
  EXIT_CANNOT_EXECUTE,
  EXIT_NOT_FOUND,
  EXIT_SOCKIT_FAILURE,
  ExecClient,
  ExecServer,
  FORWARDED_SIGNALS,
  exitCodeOf,
} from './services/exec/index.js';
export type {
  ExecClientOptions,
  ExecServerOptions,
  ExitEvent,
  ForwardedSignal,
  KillReason,
  RunIo,
  RunOptions,
} from './services/exec/index.js';
export {
  DOWNLOAD_PARTIAL_SUFFIX,
  FILES_PORT,
  FilesClient,
  FilesServer,
  MAX_NAME_BYTES,
  MAX_NAME_COMPONENT_BYTES,
  PARTIAL_DIR,
  checkName,
  escapeName,
  foldName,
  formatBytes,
  isLoopback,
  isValidName,
  tutorialNormalizer,
} from './services/files/index.js';
export type {
  FilesClientOptions,
  FilesServerOptions,
  GetOptions,
  GetResult,
  ListEntry,
  Progress,
  PutOptions,
  PutResult,
  StatReply,
} from './services/files/index.js';
export {
  CHAT_WS_PATH,
  CLOSE_CODES,
  WEB_PORT,
  WebGateway,
  parseAllowedOrigin,
  parseBridge,
} from './services/web/index.js';
export type { BridgeRoute, WebGatewayOptions, WebGatewayStats } from './services/web/index.js';

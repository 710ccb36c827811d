// The public API of sockit: sockit/core (src/core.ts) and every service.
// Each service is also an entry of its own (sockit/echo, sockit/chat, …,
// package.json "exports"). Explicit lists, nothing re-exported wholesale
// except core, which is one.
export * from './core.js';

// Services
export { EchoClient, EchoServer, EchoUdpClient, REPLY_MODES } from './services/echo/index.js';
export type {
  EchoClientOptions,
  EchoListen,
  EchoServerOptions,
  ReplyMode,
} from './services/echo/index.js';
export {
  TIME_MODES,
  TimeServer,
  decodeRfc868,
  decodeUnix32,
  encodeRfc868,
  encodeSntpRequest,
  encodeUnix32,
  parseSntpPacket,
  queryTime,
  strftime,
} from './services/time/index.js';
export type {
  Clock,
  SntpPacket,
  SntpServerOptions,
  TimeListen,
  TimeMode,
  TimeQueryOptions,
  TimeResult,
  TimeServerOptions,
} from './services/time/index.js';
export { ReadInspector, relayConnect, relayListen } from './services/relay/index.js';
export type {
  ReadInspectorOptions,
  ReadReport,
  RelayConnectOptions,
  RelayEvent,
  RelayListenOptions,
  RelayListener,
  RelayOptions,
  RelaySession,
} from './services/relay/index.js';
export { ChatClient, ChatServer, LocalChatBus, RedisChatBus } from './services/chat/index.js';
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
  RedisChatBusOptions,
  RedisChatBusStats,
} from './services/chat/index.js';
export { MessengerPeer } from './services/messenger/index.js';
export type {
  Delivery,
  IncomingMessage,
  MessengerDatagram,
  MessengerPeerOptions,
  MessengerStats,
} from './services/messenger/index.js';
export { ExecClient, ExecServer } from './services/exec/index.js';
export type {
  ExecClientOptions,
  ExecServerOptions,
  ExitEvent,
  ForwardedSignal,
  KillReason,
  RunIo,
  RunOptions,
} from './services/exec/index.js';
export { FilesClient, FilesServer } from './services/files/index.js';
export type {
  FilesClientOptions,
  FilesServerOptions,
  GetOptions,
  GetResult,
  ListEntry,
  Progress,
  PutOptions,
  PutResult,
  PutTreeEvent,
  PutTreeOptions,
  PutTreeResult,
  StatReply,
  TreeFile,
} from './services/files/index.js';
export { CHAT_WS_PATH, CLOSE_CODES, WebGateway } from './services/web/index.js';
export type { BridgeRoute, WebGatewayOptions, WebGatewayStats } from './services/web/index.js';
export type { SntpStats } from './services/time/index.js';
export type { FrameStep, RelayIo } from './services/relay/index.js';
export type { MaybePromise } from './services/chat/index.js';
export type { RetrySchedule } from './services/messenger/index.js';

export { WebGateway } from './server.js';
export type { WebGatewayOptions, WebGatewayStats } from './server.js';
export {
  CHAT_WS_PATH,
  CLOSE_CODES,
  DEFAULT_BRIDGE_HIGH_WATER,
  DEFAULT_WEB_HEARTBEAT_MS,
  DEFAULT_WEB_MAX_CHAT_MESSAGE,
  DEFAULT_WEB_MAX_CONNECTIONS,
  DEFAULT_WEB_MAX_QUEUE,
  DEFAULT_WEB_NOTICE_GRACE_MS,
  WEB_PORT,
  normalizeOrigin,
} from './messages.js';
export type { BridgeRoute } from './messages.js';
export { CONTENT_SECURITY_POLICY } from './static-files.js';

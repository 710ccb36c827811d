export { MessengerPeer, describeSender } from './peer.js';
export type { Delivery, IncomingMessage, MessengerPeerOptions, MessengerStats } from './peer.js';
export {
  DEFAULT_RETRY,
  MAX_MESSENGER_DATAGRAM,
  MAX_MESSENGER_TEXT,
  MESSENGER_PORT,
  contactAddress,
  decodeDatagram,
  encodeAck,
  encodeMessage,
  parseContact,
  parseContacts,
  peerKey,
  retryDelay,
} from './messages.js';
export type { MessengerDatagram, RetrySchedule } from './messages.js';

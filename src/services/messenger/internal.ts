// What sockit's CLI, tests and benches use of the messenger service beyond its
// public entry (index.ts): not in package.json "exports", so it may change
// without a major version.

export {
  contactAddress,
  decodeDatagram,
  DEFAULT_RETRY,
  encodeAck,
  encodeMessage,
  MAX_MESSENGER_DATAGRAM,
  MAX_MESSENGER_TEXT,
  parseContact,
  parseContacts,
  peerKey,
  retryDelay,
} from './messages.js';
export { describeSender } from './peer.js';

// What sockit's CLI, tests and benches use of the files service beyond its
// public entry (index.ts): not in package.json "exports", so it may change
// without a major version.

export {
  checkName,
  DOWNLOAD_PARTIAL_SUFFIX,
  escapeName,
  foldName,
  formatBytes,
  isValidName,
  MAX_NAME_BYTES,
  MAX_NAME_COMPONENT_BYTES,
  PARTIAL_DIR,
  tutorialNormalizer,
} from './messages.js';
export { isLoopback } from './server.js';
export { findToken } from '../common/token.js';

// What sockit's CLI, tests and benches use of the web service beyond its
// public entry (index.ts): not in package.json "exports", so it may change
// without a major version.

export { parseAllowedOrigin, parseBridge } from './messages.js';

// What sockit's CLI, tests and benches use of the exec service beyond its
// public entry (index.ts): not in package.json "exports", so it may change
// without a major version.

export {
  EXIT_CANNOT_EXECUTE,
  EXIT_NOT_FOUND,
  EXIT_SOCKIT_FAILURE,
  exitCodeOf,
  FORWARDED_SIGNALS,
} from './messages.js';

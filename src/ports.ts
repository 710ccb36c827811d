/**
 * SPEC §2's port table: every service's default port, the classic port +
 * 7000 (echo 7, time 37, NTP 123, HTTP 80 …). A leaf like limits.ts, so the
 * CLI can list the services without loading any of them.
 */
export const ECHO_PORT = 7007;
export const FILES_PORT = 7021;
export const EXEC_PORT = 7022;
export const RFC868_PORT = 7037;
export const UNIX32_PORT = 7038;
export const STRFTIME_PORT = 7039;
export const WEB_PORT = 7080;
export const SNTP_PORT = 7123;
export const CHAT_PORT = 7194;
export const MESSENGER_PORT = 7195;

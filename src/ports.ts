/**
 * SPEC §2's port table: every service's default port, the classic port +
 * 7000 (echo 7, time 37, NTP 123, HTTP 80 …). A leaf like limits.ts, so the
 * CLI can list the services without loading any of them.
 */
export const ECHO_PORT = 7007;
/** File transfer (TCP): 7021. */
export const FILES_PORT = 7021;
/** Remote command execution (TCP): 7022. */
export const EXEC_PORT = 7022;
/** Time, RFC 868 (TCP and UDP): 7037. */
export const RFC868_PORT = 7037;
/** Time, u32be seconds since 1970 (UDP): 7038. */
export const UNIX32_PORT = 7038;
/** Time, a strftime-formatted line (UDP): 7039. */
export const STRFTIME_PORT = 7039;
/** The web page and WebSocket gateway (HTTP): 7080. */
export const WEB_PORT = 7080;
/** Time, SNTP v4 (UDP): 7123. */
export const SNTP_PORT = 7123;
/** Chat broker (TCP): 7194. */
export const CHAT_PORT = 7194;
/** The UDP messenger peer: 7195. */
export const MESSENGER_PORT = 7195;

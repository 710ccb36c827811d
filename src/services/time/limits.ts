/**
 * The time service's SNTP defaults (RFC 4330). The strftime format bound is
 * in messages.ts, where the request is parsed. docs/LIMITS.md lists them.
 */

/**
 * Our stratum. An undisciplined local clock is the last resort of a time
 * network: 10, like ntpd's local-clock driver.
 */
export const DEFAULT_SNTP_STRATUM = 10;

/** Requests per second one source may make before it is told to back off (KoD RATE). */
export const DEFAULT_SNTP_RATE_PER_SEC = 1;

/** Requests a quiet source may send at once: ntpdate and chrony's burst mode send 4–8. */
export const DEFAULT_SNTP_BURST = 8;

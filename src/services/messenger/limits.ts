/**
 * The messenger's default bounds (SPEC §2.6). Wire sizes (datagram, text,
 * sender name) live in messages.ts because the codec enforces them; these
 * bound a peer's memory and its retransmissions. docs/LIMITS.md lists them.
 */

/** Messages awaiting an ack at once; more wait their turn in a FIFO. */
export const DEFAULT_MESSENGER_MAX_INFLIGHT = 32;

/** Ids remembered per sender address to drop duplicates: 4096 × 16 hex chars ≈ 0.3 MiB per sender. */
export const DEFAULT_MESSENGER_SEEN_PER_PEER = 4096;

/** Sender addresses whose ids are remembered; the one first seen longest ago is forgotten first. */
export const DEFAULT_MESSENGER_MAX_PEERS = 1024;

/**
 * Each retransmission wait is the schedule's delay × (1 ± this), so that
 * peers that lost the same burst do not retransmit in lockstep.
 */
export const RETRY_JITTER = 0.1;

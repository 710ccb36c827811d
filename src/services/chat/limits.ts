/**
 * The chat broker's own bounds, with their units (docs/LIMITS.md, "Chat").
 * The bounds of what a client may send (nick, room and text lengths, rooms
 * per client, the outbound queue) are part of the wire contract and live in
 * messages.ts; these are the server's timers, rates and memory.
 */
import { DEFAULT_LINE_SETTLE_MS } from '../../limits.js';
import type { ChatRateLimit } from './session.js';

/** A framed client silent this long is sent a ping (ms); text clients get TCP keepalive probes instead. */
export const DEFAULT_CHAT_PING_INTERVAL_MS = 30_000;

/** A pinged client silent this long more is dropped with PING_TIMEOUT (ms). */
export const DEFAULT_CHAT_PING_TIMEOUT_MS = 30_000;

/** How long a client that is cut off gets to read its notice before its socket is destroyed (ms). */
export const DEFAULT_CHAT_NOTICE_GRACE_MS = 2_000;

/** Output that does not drain for this long marks a SLOW_CONSUMER (ms). */
export const DEFAULT_CHAT_WRITE_TIMEOUT_MS = 30_000;

/** Per-client token bucket: 25 requests per second sustained, 50 at once. */
export const DEFAULT_CHAT_RATE: Readonly<ChatRateLimit> = { ratePerSec: 25, burst: 50 };

/**
 * Slack between the chat queue bound (`maxQueue`, cut off with a notice) and
 * the Connection's own hard bound just above it (cut off at once): the
 * notice itself must still fit.
 */
export const HARD_BOUND_SLACK = 64 * 1024;

/** The sweep for silent clients runs every half ping interval, but never more often than this (ms). */
export const MIN_SWEEP_INTERVAL_MS = 10;

/**
 * A text client's read that ends inside a line is taken as a whole line
 * once no more bytes came for this long (ms): a tutorial client that sends
 * `hello` without a newline and waits for an answer gets one, while a line
 * TCP split across reads (which arrive well within this) stays one line.
 */
export const DEFAULT_CHAT_LINE_SETTLE_MS = DEFAULT_LINE_SETTLE_MS;

/** Messages a room keeps for history on join (`historyLimit`). */
export const DEFAULT_CHAT_HISTORY = 100;

/**
 * Text bytes (UTF-8) the in-process history holds across all rooms; past it
 * the oldest messages of the whole server are forgotten first. Without it,
 * many rooms of 100 long messages would be unbounded memory.
 */
export const DEFAULT_CHAT_HISTORY_BYTES = 8 * 1024 * 1024;

// ---- the Redis bus (redis-bus.ts, docs/CLUSTER.md) -------------------------

/**
 * A nick lease lives this long without renewal (ms): a node that dies loses
 * its nicks within it, never earlier. Renewed every third of it.
 */
export const DEFAULT_CLUSTER_NICK_TTL_MS = 15_000;

/** Each node says it is alive this often (ms). */
export const DEFAULT_CLUSTER_HEARTBEAT_MS = 2_000;

/** A node silent for this many heartbeats is dead: its members leave every roster. */
export const CLUSTER_HEARTBEAT_MISSES = 3;

/** Entries a room's stream keeps (`XADD MAXLEN ~`); history on join reads from it. */
export const DEFAULT_CLUSTER_STREAM_LENGTH = 1_000;

/** Entries the presence stream and each node's inbox keep (`MAXLEN ~`). */
export const CLUSTER_EVENT_STREAM_LENGTH = 1_000;

/**
 * Members who left while Redis could not take it down (unreachable, or
 * refusing writes: OOM, READONLY) that one node remembers, to take them out
 * of the rosters once it can; past it the oldest is forgotten (logged), and
 * stays in its room's roster until this node is gone.
 */
export const CLUSTER_MAX_GONE = 10_000;

/**
 * Room messages one client may have on their way to a remote bus at once.
 * Its says are pipelined (one connection to Redis keeps their order), so a
 * sender is not held to one round trip per message; past this its input
 * waits until one is accepted, so a flood cannot queue without bound.
 */
export const MAX_PENDING_SAYS = 64;

/** Entries one XREAD takes per stream. */
export const CLUSTER_READ_COUNT = 256;

/** How long one XREAD blocks before it asks again (ms). */
export const CLUSTER_READ_BLOCK_MS = 5_000;

/** A Redis command not answered within this is CLUSTER_UNAVAILABLE (ms). */
export const CLUSTER_COMMAND_TIMEOUT_MS = 2_000;

/**
 * How long the mark a reaped node finds when it comes back lives (ms): a node
 * cut off for less says `joined` again for its members, who the others saw
 * leave (`node_lost`). One small key per reaped node.
 */
export const CLUSTER_REAPED_MARK_MS = 3_600_000;

/** Reconnect backoff: 50 ms doubling, at most this (ms). */
export const CLUSTER_MAX_BACKOFF_MS = 2_000;

/** Longest text a stream entry may carry (bytes); a longer entry is foreign and skipped. */
export const MAX_CLUSTER_ENTRY_TEXT = 64 * 1024;

// ---- the IPC bus of `sockit serve --workers` (ipc-bus.ts, hub.ts) ----------

/** Calls one worker may have waiting for the primary's hub; one more is refused with CLUSTER_UNAVAILABLE. */
export const IPC_MAX_PENDING_CALLS = 10_000;

/** A call the hub has not answered within this is CLUSTER_UNAVAILABLE (ms). */
export const IPC_CALL_TIMEOUT_MS = 5_000;

/** Longest string an IPC chat message may carry (characters); a longer message is malformed and dropped. */
export const IPC_MAX_STRING = 64 * 1024;

/** Most messages one history answer may carry (the hub's historyLimit is at most this). */
export const IPC_MAX_HISTORY = 1_000;

/**
 * What the primary's hub may have written to one worker that the worker has
 * not read yet (bytes, estimated). A worker this far behind is stuck (stopped,
 * or in a loop): the hub lets it go (its users leave with `worker_lost`) and
 * the primary kills it and starts it again, rather than grow without bound.
 */
export const IPC_MAX_QUEUED_BYTES = 64 * 1024 * 1024;

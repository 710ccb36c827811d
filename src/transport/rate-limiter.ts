import {
  DEFAULT_UDP_BURST,
  DEFAULT_UDP_MAX_TRACKED_SOURCES,
  DEFAULT_UDP_RATE_PER_SEC,
} from '../limits.js';

/** Options of {@link RateLimiter}: tokens per second, burst, and how many sources it remembers. */
export interface RateLimitOptions {
  /** Sustained events per second per source. @default 200 */
  ratePerSec?: number;
  /** Events a quiet source may send at once. @default 400 */
  burst?: number;
  /** Sources remembered; the one first seen longest ago is forgotten first. @default 65 536 */
  maxSources?: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/**
 * A token bucket per source key (a host address). Memory is bounded by
 * `maxSources`: when full, the source first seen longest ago is forgotten (a
 * Map keeps insertion order). Forgetting only hands a source a fresh bucket,
 * so first-seen order is enough, and it spares a delete and re-insert on
 * every datagram (measured in bench/time.bench.ts).
 */
export class RateLimiter {
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxSources: number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions = {}) {
    this.rate = options.ratePerSec ?? DEFAULT_UDP_RATE_PER_SEC;
    this.burst = options.burst ?? DEFAULT_UDP_BURST;
    this.maxSources = options.maxSources ?? DEFAULT_UDP_MAX_TRACKED_SOURCES;
  }

  /** Takes one token for `key`; false means the source is over its rate. */
  take(key: string, nowMs = performance.now()): boolean {
    let bucket = this.buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(
        this.burst,
        bucket.tokens + ((nowMs - bucket.updatedMs) * this.rate) / 1000,
      );
      bucket.updatedMs = nowMs;
    } else {
      bucket = { tokens: this.burst, updatedMs: nowMs };
      if (this.buckets.size >= this.maxSources) {
        const oldest = this.buckets.keys().next();
        if (!oldest.done) this.buckets.delete(oldest.value);
      }
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get trackedSources(): number {
    return this.buckets.size;
  }
}

/**
 * The per-connection limits on incoming frames: the rate limit (a token bucket, with the
 * violations that close a client that keeps exceeding it), the frame size, and the budget of
 * frames waiting to be handled (count and text size).
 *
 * @module
 */
import { clock } from "../clock.ts";

/** The rate limit settings (`AppOptions.rateLimit`). */
export interface RateLimitSettings {
  /** Frames per second, refilled continuously. */
  perSecond: number;
  /** Bucket size (default: `perSecond`, at least 1). */
  burst?: number;
  /** Refusals within 10 s that close the connection (default 20). */
  maxViolations?: number;
}

/** How long a rate-limit refusal counts towards `maxViolations`, in ms. */
const VIOLATION_WINDOW_MS = 10_000;

/** A token bucket: `burst` tokens, refilled at `perSecond`. */
class TokenBucket {
  #tokens: number;
  #last = clock.now();
  constructor(readonly perSecond: number, readonly burst: number) {
    this.#tokens = burst;
  }
  take(): boolean {
    const now = clock.now();
    this.#tokens = Math.min(
      this.burst,
      this.#tokens + ((now - this.#last) / 1000) * this.perSecond,
    );
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * The rate limit of one connection. {@linkcode RateLimiter.take} answers `"ok"` (handle the
 * frame), `"refused"` (answer it with `rate_limited`) or `"close"` (`maxViolations` refusals
 * within 10 s: close the connection).
 */
export class RateLimiter {
  readonly #bucket: TokenBucket;
  #violations: number[] = [];
  constructor(readonly settings: RateLimitSettings) {
    this.#bucket = new TokenBucket(
      settings.perSecond,
      settings.burst ?? Math.max(1, settings.perSecond),
    );
  }

  /** Takes a token for one incoming frame. */
  take(): "ok" | "refused" | "close" {
    if (this.#bucket.take()) return "ok";
    const now = clock.now();
    this.#violations = this.#violations.filter((t) => now - t < VIOLATION_WINDOW_MS);
    this.#violations.push(now);
    return this.#violations.length >= (this.settings.maxViolations ?? 20) ? "close" : "refused";
  }
}

const encoder = new TextEncoder();

/** True when `text` encodes to more than `limit` UTF-8 bytes. */
export function textTooBig(text: string, limit: number): boolean {
  // A UTF-16 code unit encodes to at most 3 bytes: skip encoding when the frame is surely small,
  // and to at least 1: skip it (and its copy of a frame that may be 64 MiB) when surely too big.
  if (text.length * 3 <= limit || text.length > limit) return text.length > limit;
  return encoder.encode(text).byteLength > limit;
}

/** The frames waiting to be handled on one connection, within `maxFrames` and `maxBytes`. */
export class PendingBudget {
  #frames = 0;
  #bytes = 0;
  readonly maxFrames: number;
  readonly maxBytes: number;
  /** The limits: a connection's `maxPendingFrames` and `maxPendingBytes`. */
  constructor(settings: { readonly maxPendingFrames: number; readonly maxPendingBytes: number }) {
    this.maxFrames = settings.maxPendingFrames;
    this.maxBytes = settings.maxPendingBytes;
  }

  /** Frames waiting now. */
  get frames(): number {
    return this.#frames;
  }

  /** Counts one more frame of `size` text; false (nothing counted) when over either limit. */
  take(size: number): boolean {
    if (this.#frames >= this.maxFrames || this.#bytes + size > this.maxBytes) return false;
    this.#frames++;
    this.#bytes += size;
    return true;
  }

  /** A frame of `size` counted by {@linkcode PendingBudget.take} is handled. */
  release(size: number): void {
    this.#frames--;
    this.#bytes -= size;
  }
}

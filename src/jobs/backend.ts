/**
 * The job backend: the atomic state transitions a {@linkcode Worker} drives on a queue (claim,
 * renew, complete, retry, fail, release, reap) and the work signal it sleeps on. The in-memory
 * and Redis job queues implement it; the lease tokens make every transition safe against a
 * worker that lost its lease.
 *
 * @module
 */
import type { JsonValue } from "../layers/layer.ts";

/** A job a worker claimed, with the lease token that proves it owns the job. */
export interface ClaimedJob {
  /** The job id. */
  readonly id: string;
  /** The job function's name. */
  readonly name: string;
  /** The enqueued arguments. */
  readonly args: JsonValue[];
  /** This start, 1-based. */
  readonly tryNumber: number;
  /** Allowed starts. */
  readonly maxTries: number;
  /** The job's own timeout in ms, if it was enqueued with one. */
  readonly timeout: number | undefined;
  /** Enqueue time, epoch ms. */
  readonly enqueuedAt: number;
  /** The lease token passed to `claim`. */
  readonly token: string;
}

/** What {@linkcode JobBackend.claim} returns. */
export interface ClaimResult {
  /** The claimed job, or undefined when none is ready. */
  job: ClaimedJob | undefined;
  /** When no job was claimed: ms until the earliest delayed job is due, or undefined if none. */
  nextDueInMs?: number;
}

/** A worker's private way to sleep until work may be available. */
export interface WorkSignal {
  /**
   * Resolves when a job may have become ready, or after about `timeoutMs`. Calls while a wait is
   * in flight share it. Level-triggered: a wake-up that no caller was awaiting (it came between
   * a claim and the next wait) makes the next call resolve at once. Spurious wake-ups are allowed.
   */
  wait(timeoutMs: number): Promise<void>;
  /** Releases the signal (ends a wait in flight). */
  close(): Promise<void>;
}

/** One lease a worker renews: the job id and the token it was claimed with. */
export interface Lease {
  /** The job id. */
  readonly id: string;
  /** The claim token. */
  readonly token: string;
}

/**
 * The state transitions a {@linkcode Worker} drives; each one is atomic. Every method that takes
 * a token does nothing and returns false (or reports the lease lost) when the job is no longer
 * running under that token.
 */
export interface JobBackend {
  /** Takes the next ready job (promoting due delayed jobs first) and leases it for `leaseMs`. */
  claim(token: string, leaseMs: number): Promise<ClaimResult>;
  /** Opens a {@linkcode WorkSignal} for one worker. */
  openWorkSignal(): Promise<WorkSignal>;
  /**
   * Extends leases by `leaseMs`; resolves with the leases that were lost (the job is no longer
   * running under that token). A worker may hold two leases of one job (an old try whose lease
   * expired and a fresh one), so callers match the result by token.
   */
  renew(leases: readonly Lease[], leaseMs: number): Promise<Lease[]>;
  /** Marks the job completed with `result` and notifies waiters. */
  complete(id: string, token: string, result: JsonValue): Promise<boolean>;
  /** Puts the job back to run again after `delayMs`, recording `error`. */
  retry(id: string, token: string, error: string, delayMs: number): Promise<boolean>;
  /** Marks the job failed for good and notifies waiters. */
  fail(id: string, token: string, error: string): Promise<boolean>;
  /** Returns an unfinished job to the front of the queue; the try does not count. */
  release(id: string, token: string): Promise<boolean>;
  /**
   * Returns running jobs whose lease expired to the queue (or fails them when no tries are left).
   * Resolves with how many were handled.
   */
  reap(): Promise<number>;
}

/**
 * The typed errors of background jobs: what `result()` rejects with (a job failed, was lost, is
 * unknown, or did not finish in time), what aborts a running try (`ctx.signal`'s reason), and
 * what a job function throws to fail at once.
 *
 * @module
 */
import { LayerUnavailableError, SwitchboardError } from "../errors.ts";

/** A job finally failed (no tries left, or an {@linkcode UnrecoverableJobError}). */
export class JobFailedError extends SwitchboardError {
  /** The job id. */
  readonly jobId: string;
  /** The message of the last try's error. */
  readonly error: string;
  /** How many times the job was started. */
  readonly attempts: number;
  /** Creates the error. */
  constructor(jobId: string, error: string, attempts: number) {
    super(`Job '${jobId}' failed after ${attempts} attempt(s): ${error}`);
    this.jobId = jobId;
    this.error = error;
    this.attempts = attempts;
  }
}

/** A try ran longer than its timeout. It is the abort reason of `ctx.signal` and the try's error. */
export class JobTimeoutError extends SwitchboardError {
  /** The job id. */
  readonly jobId: string;
  /** The timeout in ms. */
  readonly timeoutMs: number;
  /** Creates the error. */
  constructor(jobId: string, timeoutMs: number) {
    super(`Job '${jobId}' timed out after ${timeoutMs} ms`);
    this.jobId = jobId;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The worker gave up a running try: it stopped without waiting (`shutdown`, the job goes back to
 * the queue) or it lost the job's lease (`lease_lost`, another worker may run it). The abort
 * reason of `ctx.signal`.
 */
export class JobAbortedError extends SwitchboardError {
  /** The job id. */
  readonly jobId: string;
  /** Why the try was given up. */
  readonly reason: "shutdown" | "lease_lost";
  /** Creates the error. */
  constructor(jobId: string, reason: "shutdown" | "lease_lost") {
    super(`Job '${jobId}' aborted: ${reason === "shutdown" ? "worker stopped" : "lease lost"}`);
    this.jobId = jobId;
    this.reason = reason;
  }
}

/** There is no job with this id (never enqueued, or its result expired). */
export class UnknownJobError extends SwitchboardError {
  /** The job id. */
  readonly jobId: string;
  /** Creates the error; `message` replaces the default one. */
  constructor(jobId: string, message?: string) {
    super(message ?? `No job '${jobId}' (never enqueued, or its result expired)`);
    this.jobId = jobId;
  }
}

/**
 * A job that `result()` was waiting for no longer exists and never finished: its data was lost
 * (Redis restarted without persistence, or the job's key was deleted). A subclass of
 * {@linkcode UnknownJobError}, so code that handles unknown jobs handles this too. Enqueue the job
 * again if it still has to run.
 */
export class JobLostError extends UnknownJobError {
  /** Creates the error. */
  constructor(jobId: string) {
    super(
      jobId,
      `Job '${jobId}' was lost while waiting for its result (its data is gone from the queue, ` +
        `for example Redis restarted without persistence)`,
    );
  }
}

/**
 * The job queue's store (Redis) cannot be reached right now: a connection is down, refused, or
 * a command failed on the connection. Thrown by `enqueue`, `getJob`, `status` and `result` instead
 * of the client library's raw errors; the original is the `cause`. Retry later: the queue
 * reconnects on its own. A {@linkcode LayerUnavailableError}, so one handler covers layers and
 * job queues.
 */
export class JobQueueUnavailableError extends LayerUnavailableError {}

/** `JobHandle.result({ timeout })` gave up waiting; the job itself goes on. */
export class ResultTimeoutError extends SwitchboardError {
  /** The job id. */
  readonly jobId: string;
  /** Creates the error. */
  constructor(jobId: string, timeoutMs: number) {
    super(`Job '${jobId}' did not finish within ${timeoutMs} ms`);
    this.jobId = jobId;
  }
}

/** Throw it from a job function to fail the job at once, without retries. */
export class UnrecoverableJobError extends SwitchboardError {}

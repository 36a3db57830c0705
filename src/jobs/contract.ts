/**
 * The background job contract: a {@linkcode JobQueue} that producers enqueue named jobs on, the
 * {@linkcode JobBackend} a {@linkcode Worker} drives, the {@linkcode JobContext} every job
 * function receives, the typed errors, and the retry {@linkcode backoffDelay} helper. The errors
 * live in `errors.ts`, the backend interface in `backend.ts`, JSON checks in `values.ts`; this
 * module re-exports them, so it is the one import of the contract.
 *
 * Two backends implement it with the same semantics: `InMemoryJobQueue`
 * (`adapters/memory`, one process) and `RedisJobQueue` (`adapters/redis`, many processes).
 *
 * Delivery is at least once: a job leaves the queue only when it completed or finally failed, and
 * a job whose worker died is run again once its lease expires. Make job functions idempotent.
 *
 * @module
 */
import type { JsonValue } from "../layers/layer.ts";
import { assertJson, describeError, JobArgsError } from "./values.ts";

export { JobArgsError };
export { assertJson, describeError, MAX_JSON_DEPTH, MAX_JSON_VALUES } from "./values.ts";
export {
  JobAbortedError,
  JobFailedError,
  JobLostError,
  JobQueueUnavailableError,
  JobTimeoutError,
  ResultTimeoutError,
  UnknownJobError,
  UnrecoverableJobError,
} from "./errors.ts";
export type { ClaimedJob, ClaimResult, JobBackend, Lease, WorkSignal } from "./backend.ts";

export type { JsonValue };

/**
 * Where a job is: waiting to run (`queued`), waiting for its run time (`delayed`, also between
 * retries), being run (`running`), finished (`completed`, `failed`; kept for the queue's
 * `keepResultMs`), or unknown / expired (`not_found`).
 */
export type JobStatus = "queued" | "delayed" | "running" | "completed" | "failed" | "not_found";

/** Options of {@linkcode JobQueue.enqueue}. */
export interface EnqueueOptions {
  /**
   * The job id. While a job with this id is queued, delayed or running, enqueueing it again
   * returns the existing job instead of a duplicate. Once it finished, the id can be used again
   * (the new job replaces the kept result). Default: a random id.
   */
  jobId?: string;
  /** Run no earlier than this many ms from now. Default 0. */
  delay?: number;
  /**
   * How many times the job may be started: failures, timeouts and crash recoveries all count.
   * Default: the queue's `defaultMaxTries` (3).
   */
  maxTries?: number;
  /** Fail the try after this many ms. Default: the worker's `jobTimeoutMs` (300,000). */
  timeout?: number;
}

/** Options of {@linkcode JobHandle.result}. */
export interface ResultOptions {
  /** Reject with {@linkcode ResultTimeoutError} after this many ms. Default: wait forever. */
  timeout?: number;
}

/** A job on a queue, as returned by {@linkcode JobQueue.enqueue} and {@linkcode JobQueue.getJob}. */
export interface JobHandle {
  /** The job id. */
  readonly id: string;
  /** The name of the job function. */
  readonly name: string;
  /** Where the job is now. */
  status(): Promise<JobStatus>;
  /**
   * Waits for the job to finish (event-driven, no polling). Resolves with the function's return
   * value (as JSON: `undefined` becomes `null`); rejects with {@linkcode JobFailedError} when the
   * job finally failed, {@linkcode UnknownJobError} when there is no such job (or its result
   * expired), {@linkcode ResultTimeoutError} after `options.timeout` ms.
   */
  result<T = unknown>(options?: ResultOptions): Promise<T>;
}

/** How many jobs a queue holds in each unfinished state ({@linkcode JobQueue.depth}). */
export interface JobQueueDepth {
  /** Ready to run. */
  queued: number;
  /** Waiting for their run time (delays, retry backoff). */
  delayed: number;
  /** Being run (leased by a worker). */
  running: number;
}

/** Where producers put jobs. Implemented by `InMemoryJobQueue` and `RedisJobQueue`. */
export interface JobQueue {
  /**
   * Enqueues a call of the job function `name` with JSON `args`. Resolves with a handle; with a
   * `jobId` that is still queued, delayed or running, with the existing job's handle.
   */
  enqueue<A extends JsonValue[]>(
    name: string,
    args: A,
    options?: EnqueueOptions,
  ): Promise<JobHandle>;
  /** The job with this id, or undefined when there is none (or its result expired). */
  getJob(id: string): Promise<JobHandle | undefined>;
  /** How many jobs wait, are delayed and run now (metrics read it; optional for other queues). */
  depth?(): Promise<JobQueueDepth>;
  /**
   * Releases the queue's resources (connections). Pending `result()` waits reject with
   * `ClosedError`. Stop the workers that use the queue first.
   */
  close(): Promise<void>;
}

/**
 * What a job function receives as its first argument. `S` is the type of the worker's shared
 * state.
 */
export interface JobContext<S = Record<string, unknown>> {
  /** The job id. */
  readonly jobId: string;
  /** The job function's name. */
  readonly name: string;
  /** Which start of the job this is, 1-based (retries and crash recoveries count). */
  readonly tryNumber: number;
  /** How many starts are allowed. */
  readonly maxTries: number;
  /** When the job was enqueued. */
  readonly enqueuedAt: Date;
  /** The worker's shared state (`WorkerOptions.state`). */
  readonly state: S;
  /**
   * Aborted when the try times out (reason {@linkcode JobTimeoutError}), the worker stops
   * without waiting for the job, or the worker lost the job's lease (reason
   * {@linkcode JobAbortedError}). The result of an aborted try is ignored.
   */
  readonly signal: AbortSignal;
}

/** A job function: the context, then the enqueued arguments. May return a promise. */
export type JobFunction<S = Record<string, unknown>> = (
  ctx: JobContext<S>,
  // deno-lint-ignore no-explicit-any
  ...args: any[]
) => unknown;

/** How long to wait before retrying a failed try. */
export type RetryBackoff =
  | {
    /** `exponential` (default): `delayMs * 2^(tryNumber-1)`; `fixed`: `delayMs`. */
    type?: "exponential" | "fixed";
    /** Base delay in ms. Default 1000. */
    delayMs?: number;
    /** Longest delay in ms. Default 60,000. */
    maxDelayMs?: number;
    /** Random fraction (0–1) taken off the delay to spread retries. Default 0. */
    jitter?: number;
  }
  | ((tryNumber: number) => number);

/** The backoff used when none is given: exponential from 1 s, at most 60 s, no jitter. */
export const DEFAULT_RETRY_BACKOFF: RetryBackoff = {
  type: "exponential",
  delayMs: 1000,
  maxDelayMs: 60_000,
  jitter: 0,
};

/**
 * The delay in ms before retrying after try `tryNumber` (1-based) failed.
 *
 * ```ts
 * import { backoffDelay } from "./contract.ts";
 * backoffDelay(3, { delayMs: 100 }); // 400
 * ```
 */
export function backoffDelay(
  tryNumber: number,
  backoff: RetryBackoff = DEFAULT_RETRY_BACKOFF,
): number {
  if (typeof backoff === "function") {
    const ms = Number(backoff(tryNumber));
    return Number.isFinite(ms) && ms > 0 ? ms : 0;
  }
  const base = Math.max(0, backoff.delayMs ?? 1000);
  const max = Math.max(0, backoff.maxDelayMs ?? 60_000);
  const raw = backoff.type === "fixed" ? base : base * 2 ** Math.max(0, tryNumber - 1);
  const capped = Math.min(raw, max);
  const jitter = Math.min(1, Math.max(0, backoff.jitter ?? 0));
  return Math.round(capped * (1 - jitter * Math.random()));
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the backends (not part of the public API)
// ---------------------------------------------------------------------------------------------

/** Enqueue options after validation, with the arguments as JSON text. @internal */
export interface CheckedEnqueue {
  /** The arguments as JSON text. */
  args: string;
  /** Delay in ms (0 = ready now). */
  delay: number;
  /** Allowed starts. */
  maxTries: number;
  /** Per-try timeout in ms, if given. */
  timeout: number | undefined;
}

/** Validates `enqueue` arguments; throws TypeError. @internal */
export function checkEnqueue(
  name: string,
  args: unknown,
  options: EnqueueOptions,
  defaultMaxTries: number,
): CheckedEnqueue {
  if (typeof name !== "string" || name.length === 0 || name.length > 200) {
    throw new TypeError("Job name must be a non-empty string of at most 200 characters");
  }
  if (!Array.isArray(args)) throw new TypeError("Job args must be an array");
  const { jobId, delay = 0, maxTries = defaultMaxTries, timeout } = options ?? {};
  if (
    jobId !== undefined && (typeof jobId !== "string" || jobId.length === 0 || jobId.length > 256)
  ) {
    throw new TypeError("jobId must be a non-empty string of at most 256 characters");
  }
  if (typeof delay !== "number" || !Number.isFinite(delay) || delay < 0) {
    throw new TypeError("delay must be a finite number of ms >= 0");
  }
  if (!Number.isInteger(maxTries) || maxTries < 1) {
    throw new TypeError("maxTries must be a positive integer");
  }
  if (timeout !== undefined && (typeof timeout !== "number" || !(timeout > 0))) {
    throw new TypeError("timeout must be a positive number of ms");
  }
  assertJson(args, "args");
  let json: string;
  try {
    json = JSON.stringify(args);
  } catch (error) {
    throw new JobArgsError("args", `cannot be serialized (${describeError(error)})`);
  }
  return { args: json, delay: Math.round(delay), maxTries, timeout };
}

/** The fields every job queue stores for a job it has just accepted. @internal */
export interface NewJobRecord {
  /** Job id. */
  id: string;
  /** Function name. */
  name: string;
  /** Arguments as JSON text. */
  args: string;
  /** `delayed` when it has a delay, else `queued`. */
  state: "queued" | "delayed";
  /** Enqueue time, epoch ms. */
  enqueuedAt: number;
  /** Due time, epoch ms. */
  runAt: number;
  /** Starts so far (0). */
  tries: number;
  /** Allowed starts. */
  maxTries: number;
  /** Per-try timeout in ms, if given. */
  timeout: number | undefined;
}

/** The record of job `id` accepted at `now` (ms) with `checked` arguments. @internal */
export function newJobRecord(
  id: string,
  name: string,
  checked: CheckedEnqueue,
  now: number,
): NewJobRecord {
  return {
    id,
    name,
    args: checked.args,
    state: checked.delay > 0 ? "delayed" : "queued",
    enqueuedAt: now,
    runAt: now + checked.delay,
    tries: 0,
    maxTries: checked.maxTries,
    timeout: checked.timeout,
  };
}

/** A random job id: 32 hex digits. @internal */
export function newJobId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

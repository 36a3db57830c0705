/**
 * One try of a job: the job function runs with its context, under its timeout and abort
 * signal; its outcome is recorded on the backend: completed (a JSON result), retried after the
 * backoff, or failed for good (no tries left, an {@linkcode UnrecoverableJobError}, an unknown
 * function, a result that is not JSON).
 *
 * @module
 */
import { clock } from "../clock.ts";
import {
  backoffDelay,
  type ClaimedJob,
  describeError,
  JobAbortedError,
  type JobBackend,
  type JobContext,
  type JobFunction,
  JobTimeoutError,
  type JsonValue,
  type RetryBackoff,
  UnrecoverableJobError,
} from "./contract.ts";
import { getLogger } from "../logger.ts";
import type { BurstResult } from "./worker_options.ts";

/** A try in progress: its job, its abort controller and where its function stands. */
export interface RunningTry {
  /** The claimed job. */
  job: ClaimedJob;
  /** Aborts `ctx.signal` (timeout, lost lease, shutdown). */
  controller: AbortController;
  /** True once the worker gave the try up: its outcome is not recorded. */
  abandoned: boolean;
  /** Settles when the try's outcome is recorded (or it was given up). */
  done: Promise<void>;
  /** Settles when the job function's promise settles (or at once if it never started). */
  settled: Promise<void>;
  /** True once the job function's promise settled (or when it never started). */
  returned: boolean;
  /** When the try started (`performance.now()`), for its duration. */
  startedAt: number;
}

/** A fresh entry for `job`, before its function starts. */
export function newTry(job: ClaimedJob): RunningTry {
  return {
    job,
    controller: new AbortController(),
    abandoned: false,
    done: Promise.resolve(),
    settled: Promise.resolve(),
    returned: true,
    startedAt: performance.now(),
  };
}

/** What a try needs from its worker. */
export interface TryRunner<S> {
  /** The backend the outcome is recorded on. */
  readonly backend: JobBackend;
  /** The job functions by name. */
  readonly functions: Record<string, JobFunction<S>>;
  /** The shared state (`ctx.state`). */
  readonly state: S;
  /** The timeout of a job enqueued without one, ms. */
  readonly jobTimeoutMs: number;
  /** The retry backoff. */
  readonly backoff: RetryBackoff;
  /** Counts a recorded outcome of `entry` (for `runBurst()` and the worker's observer). */
  count(outcome: keyof BurstResult, entry: RunningTry): void;
}

/**
 * Runs one try of `entry.job` and records its outcome, unless the try was given up (lost lease,
 * shutdown) meanwhile. Sets `entry.settled` / `entry.returned` as the function's promise goes.
 */
export async function executeTry<S>(entry: RunningTry, worker: TryRunner<S>): Promise<void> {
  const { job, controller } = entry;
  const log = getLogger();
  const fn = Object.hasOwn(worker.functions, job.name) ? worker.functions[job.name] : undefined;
  if (!fn) {
    const message = `Unknown job function '${job.name}'`;
    log.error(`Job ${job.id}: ${message}`);
    if (await worker.backend.fail(job.id, job.token, message)) worker.count("failed", entry);
    return;
  }
  const ctx: JobContext<S> = {
    jobId: job.id,
    name: job.name,
    tryNumber: job.tryNumber,
    maxTries: job.maxTries,
    enqueuedAt: new Date(job.enqueuedAt),
    state: worker.state,
    signal: controller.signal,
  };
  const timeoutMs = job.timeout ?? worker.jobTimeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ok = false;
  let value: unknown;
  let failure: unknown;
  const call = Promise.resolve().then(() => fn(ctx, ...job.args));
  entry.returned = false;
  const returned = () => {
    entry.returned = true;
  };
  entry.settled = call.then(returned, returned);
  try {
    value = await Promise.race([
      call,
      new Promise((_, reject) => {
        timer = clock.setTimeout(() => {
          const error = new JobTimeoutError(job.id, timeoutMs);
          controller.abort(error);
          reject(error);
        }, timeoutMs);
      }),
      new Promise((_, reject) => {
        if (controller.signal.aborted) reject(controller.signal.reason);
        controller.signal.addEventListener("abort", () => reject(controller.signal.reason), {
          once: true,
        });
      }),
    ]);
    ok = true;
  } catch (error) {
    failure = error;
  } finally {
    clock.clearTimeout(timer);
  }
  if (entry.abandoned || isInstance(failure, JobAbortedError)) return;
  if (ok) {
    let json: JsonValue;
    try {
      json = value === undefined ? null : JSON.parse(JSON.stringify(value));
    } catch (error) {
      ok = false;
      failure = new UnrecoverableJobError(
        `Result is not JSON-serializable: ${describeError(error)}`,
      );
    }
    if (ok) {
      if (await worker.backend.complete(job.id, job.token, json!)) worker.count("completed", entry);
      else log.warn(`Job ${job.id}: finished after its lease was lost; result dropped`);
      return;
    }
  }
  const message = describeError(failure);
  const last = job.tryNumber >= job.maxTries || isInstance(failure, UnrecoverableJobError);
  if (last) {
    log.warn(`Job ${job.id} (${job.name}) failed after ${job.tryNumber} tries: ${message}`);
    if (await worker.backend.fail(job.id, job.token, message)) worker.count("failed", entry);
  } else {
    const delay = backoffDelay(job.tryNumber, worker.backoff);
    log.info(`Job ${job.id} (${job.name}) try ${job.tryNumber} failed, retrying in ${delay} ms`, {
      error: message,
    });
    if (await worker.backend.retry(job.id, job.token, message, delay)) {
      worker.count("retried", entry);
    }
  }
}

/** `instanceof` that never throws (a Proxy's `getPrototypeOf` trap may). */
function isInstance(value: unknown, type: abstract new (...args: never[]) => unknown): boolean {
  try {
    return value instanceof type;
  } catch {
    return false;
  }
}

/**
 * `result()` waits of {@linkcode NatsJobQueue} ({@linkcode ResultWaiters}): each wait subscribes to
 * its job's `done` subject, then re-reads the job (a finish before the subscription is read
 * there, one after it is heard), and settles from the job's entry. No polling. A `done` message
 * published while the connection was down is never heard, so after a reconnect every wait reads
 * its job again ({@linkcode ResultWaiters.recheckAll}), retried with backoff until a pass succeeds.
 *
 * @module
 */
import { ClosedError } from "../../src/layers/kit.ts";
import { Recheck } from "../../src/jobs/recheck.ts";
import {
  JobFailedError,
  JobLostError,
  JobQueueUnavailableError,
  ResultTimeoutError,
} from "../../src/jobs/contract.ts";
import type { JobEntry } from "./job_store.ts";
import type { NatsJobQueueEvent } from "./job_events.ts";
import type { NatsConnectionLike } from "./link.ts";

/** True for `completed` and `failed`. */
export function isFinished(state: JobEntry["state"]): boolean {
  return state === "completed" || state === "failed";
}

/** The result of a finished job: its value, or a rejection with {@linkcode JobFailedError}. */
export function settle(entry: JobEntry): Promise<unknown> {
  if (entry.state === "completed") return Promise.resolve(JSON.parse(entry.result ?? "null"));
  return Promise.reject(new JobFailedError(entry.id, entry.error ?? "failed", entry.tries));
}

/** What one wait needs. */
export interface ResultWait {
  /** The job's `done` subject. */
  subject: string;
  /** Where to subscribe. */
  connection: NatsConnectionLike;
  /** Resolves once the subscription is confirmed by the server. */
  confirm(): Promise<void>;
  /** Reads the job (undefined when it is gone or expired). */
  read(): Promise<JobEntry | undefined>;
  /** Give up after this many ms with {@linkcode ResultTimeoutError}. */
  timeoutMs?: number;
}

/** What the waits of one queue share. */
export interface ResultWaitersOptions {
  /** Resolves once the server answered a ping sent after the subscriptions (re)sent so far. */
  confirm(): Promise<void>;
  /** Tells the queue's `onEvent` listeners. */
  emit(event: NatsJobQueueEvent): void;
  /**
   * Waited jobs are also read again every this many ms while any wait is pending: a `done`
   * message can be lost without a reconnect of this producer (a worker that died between
   * writing the job and publishing it, or closed while its own connection was down).
   */
  recheckMs: number;
}

/** The longest pause between two failed re-checks, in ms. */
const RECHECK_MAX_DELAY_MS = 5_000;

interface Pending {
  fail(error: Error): void;
  /** Reads the job again; resolves with the read's error instead of failing the wait. */
  recheck(): Promise<Error | undefined>;
}

/** The pending `result()` waits of one queue. */
export class ResultWaiters {
  readonly #o: ResultWaitersOptions;
  readonly #pending = new Set<Pending>();
  readonly #recheck: Recheck;

  /** Waits that confirm and tell through `options`. */
  constructor(options: ResultWaitersOptions) {
    this.#o = options;
    this.#recheck = new Recheck({
      pass: () => this.#recheckOnce(),
      waiting: () => this.#pending.size,
      emit: options.emit,
      maxDelayMs: RECHECK_MAX_DELAY_MS,
      intervalMs: options.recheckMs,
      label: "NATS job queue",
    });
  }

  /** How many waits are pending. */
  get size(): number {
    return this.#pending.size;
  }

  /** Waits until the job finished; settles with its result. */
  wait(id: string, w: ResultWait): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let checking: Promise<unknown> = Promise.resolve();
      let ended = false;
      const sub = w.connection.subscribe(w.subject, {
        // A read that fails here leaves the wait to the re-check (retried with backoff).
        callback: () => {
          checking = checking.then(() => check(true)).then((error) => {
            if (error) this.recheckAll();
          });
        },
      });
      const end = () => {
        ended = true;
        clearTimeout(timer);
        this.#pending.delete(pending);
        if (this.#pending.size === 0) this.#recheck.stop();
        if (!sub.isClosed()) sub.unsubscribe();
      };
      const fail = (error: Error) => {
        if (ended) return;
        end();
        reject(error);
      };
      /** Reads the job; a read that fails fails the wait, or (`lenient`) is answered. */
      const check = async (lenient: boolean): Promise<Error | undefined> => {
        if (ended) return undefined;
        let entry: JobEntry | undefined;
        try {
          entry = await w.read();
        } catch (error) {
          if (lenient) return error as Error;
          fail(error as Error);
          return undefined;
        }
        if (ended) return undefined;
        // It existed when the wait began: gone since (a restart without JetStream's store).
        if (!entry) fail(new JobLostError(id));
        else if (isFinished(entry.state)) {
          end();
          settle(entry).then(resolve, reject);
        }
        return undefined;
      };
      const pending: Pending = {
        fail,
        recheck: () => {
          const read = checking.then(() => check(true));
          checking = read;
          return read;
        },
      };
      this.#pending.add(pending);
      this.#recheck.start();
      if (w.timeoutMs !== undefined) {
        timer = setTimeout(
          () => fail(new ResultTimeoutError(id, w.timeoutMs!)),
          Math.max(0, w.timeoutMs),
        );
      }
      // Subscribed: a finish from now on is heard; one that came before is read here (a read
      // that fails fails the call: the caller learns at once that NATS does not answer).
      let confirmed: Promise<void>;
      try {
        confirmed = w.confirm();
      } catch (error) {
        confirmed = Promise.reject(error); // the link is down: thrown, not rejected
      }
      confirmed.then(
        () => {
          checking = checking.then(() => check(false)).then(() => {
            if (!ended) this.#o.emit({ type: "waiting", jobId: id });
          });
        },
        (error) =>
          fail(new JobQueueUnavailableError(String(error?.message ?? error), { cause: error })),
      );
    });
  }

  /**
   * Reads every waited job again (the connection came back: a `done` message sent meanwhile was
   * not heard; or the periodic re-check). Retried with backoff until one pass succeeds or nobody waits any more; told as
   * `rechecked` / `recheckFailed`.
   */
  recheckAll(): void {
    this.#recheck.request();
  }

  /** One read of every waited job (the subscriptions confirmed first); how many there were. */
  async #recheckOnce(): Promise<number> {
    const pending = [...this.#pending];
    // The subscriptions are live on the server before any read: a finish after the read is heard.
    await this.#o.confirm();
    const errors = await Promise.all(pending.map((p) => p.recheck()));
    const error = errors.find((e) => e !== undefined);
    if (error) throw error;
    return pending.length;
  }

  /**
   * Rejects every pending wait with `ClosedError` and stops re-checking; resolves once a re-check
   * in progress ended (its reads end when the connection closes).
   */
  close(): Promise<void> {
    const rechecked = this.#recheck.close();
    for (const p of [...this.#pending]) p.fail(new ClosedError("The job queue is closed"));
    return rechecked;
  }
}

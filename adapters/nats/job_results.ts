/**
 * `result()` waits of {@linkcode NatsJobQueue} ({@linkcode ResultWaiters}): each wait subscribes to
 * its job's `done` subject, then re-reads the job (a finish before the subscription is read
 * there, one after it is heard), and settles from the job's entry. No polling.
 *
 * @module
 */
import { ClosedError } from "../../src/layers/kit.ts";
import {
  JobFailedError,
  JobQueueUnavailableError,
  ResultTimeoutError,
  UnknownJobError,
} from "../../src/jobs/contract.ts";
import type { JobEntry } from "./job_store.ts";
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

/** The pending `result()` waits of one queue. */
export class ResultWaiters {
  #failers = new Set<(error: Error) => void>();

  /** Waits until the job finished; settles with its result. */
  wait(id: string, w: ResultWait): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let checking = Promise.resolve();
      let ended = false;
      const sub = w.connection.subscribe(w.subject, {
        callback: () => {
          checking = checking.then(check);
        },
      });
      const end = () => {
        ended = true;
        clearTimeout(timer);
        this.#failers.delete(fail);
        if (!sub.isClosed()) sub.unsubscribe();
      };
      const fail = (error: Error) => {
        if (ended) return;
        end();
        reject(error);
      };
      const check = async () => {
        if (ended) return;
        try {
          const entry = await w.read();
          if (!entry) fail(new UnknownJobError(id));
          else if (isFinished(entry.state)) {
            end();
            settle(entry).then(resolve, reject);
          }
        } catch (error) {
          fail(error as Error);
        }
      };
      this.#failers.add(fail);
      if (w.timeoutMs !== undefined) {
        timer = setTimeout(
          () => fail(new ResultTimeoutError(id, w.timeoutMs!)),
          Math.max(0, w.timeoutMs),
        );
      }
      // Subscribed: a finish from now on is heard; one that came before is read here.
      w.confirm().then(
        () => checking = checking.then(check),
        (error) =>
          fail(new JobQueueUnavailableError(String(error?.message ?? error), { cause: error })),
      );
    });
  }

  /** Rejects every pending wait with `ClosedError`. */
  close(): void {
    for (const fail of [...this.#failers]) fail(new ClosedError("The job queue is closed"));
  }
}

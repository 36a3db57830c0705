/**
 * {@linkcode InMemoryJobQueue}: the job queue for one process (`deno task dev`, unit tests), with
 * the same contract as the Redis job queue: delays, retries, timeouts, leases, result expiry and
 * dedupe by job id. Arguments and results are copied through JSON, as on Redis.
 *
 * @module
 */
import { clock } from "../clock.ts";
import { ClosedError } from "../errors.ts";
import {
  checkEnqueue,
  type ClaimResult,
  type EnqueueOptions,
  type JobBackend,
  JobFailedError,
  type JobHandle,
  type JobQueue,
  type JobQueueDepth,
  type JobStatus,
  type JsonValue,
  type Lease,
  newJobId,
  newJobRecord,
  type ResultOptions,
  ResultTimeoutError,
  UnknownJobError,
  type WorkSignal,
} from "./contract.ts";

/** Options of {@linkcode InMemoryJobQueue}. */
export interface InMemoryJobQueueOptions {
  /** How long finished jobs (and their results) are kept, in ms. Default 3,600,000 (1 hour). */
  keepResultMs?: number;
  /** `maxTries` of jobs enqueued without one. Default 3. */
  defaultMaxTries?: number;
}

interface Entry {
  id: string;
  name: string;
  args: string;
  state: "queued" | "delayed" | "running" | "completed" | "failed";
  enqueuedAt: number;
  runAt: number;
  tries: number;
  maxTries: number;
  timeout: number | undefined;
  token?: string;
  leaseUntil?: number;
  result?: string;
  error?: string;
  expiresAt?: number;
}

interface SignalState {
  dirty: boolean;
  pending: Promise<void> | undefined;
  end: (() => void) | undefined;
}

type Waiter = { settle(entry: Entry | undefined): void };

/**
 * A job queue in process memory. Pass it to `new Worker(queue, …)` to run its jobs.
 *
 * ```ts ignore
 * const queue = new InMemoryJobQueue();
 * const job = await queue.enqueue("translate", ["hello", channelName]);
 * await new Worker(queue, { functions: { translate } }).runBurst();
 * console.log(await job.result());
 * ```
 */
export class InMemoryJobQueue implements JobQueue, JobBackend {
  readonly #keepResultMs: number;
  readonly #defaultMaxTries: number;
  #jobs = new Map<string, Entry>();
  #ready: string[] = [];
  #delayed = new Set<string>();
  #running = new Set<string>();
  #finished: string[] = [];
  #waiters = new Map<string, Set<Waiter>>();
  #signals = new Set<SignalState>();
  #closed = false;

  /** Creates an empty queue. */
  constructor(options: InMemoryJobQueueOptions = {}) {
    this.#keepResultMs = Math.max(0, options.keepResultMs ?? 3_600_000);
    this.#defaultMaxTries = options.defaultMaxTries ?? 3;
    if (!Number.isInteger(this.#defaultMaxTries) || this.#defaultMaxTries < 1) {
      throw new TypeError("defaultMaxTries must be a positive integer");
    }
  }

  /** {@inheritDoc JobQueue.enqueue} */
  enqueue<A extends JsonValue[]>(
    name: string,
    args: A,
    options: EnqueueOptions = {},
  ): Promise<JobHandle> {
    try {
      this.#assertOpen();
      const checked = checkEnqueue(name, args, options, this.#defaultMaxTries);
      this.#sweep();
      const id = options.jobId ?? newJobId();
      const existing = this.#jobs.get(id);
      if (existing && !isFinished(existing.state)) {
        return Promise.resolve(this.#handle(id, existing.name));
      }
      if (existing) this.#forget(id);
      const now = clock.now();
      const entry: Entry = newJobRecord(id, name, checked, now);
      this.#jobs.set(id, entry);
      if (checked.delay > 0) this.#delayed.add(id);
      else this.#ready.push(id);
      this.#wake();
      return Promise.resolve(this.#handle(id, name));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** {@inheritDoc JobQueue.getJob} */
  /** How many jobs wait, are delayed and run now. */
  depth(): Promise<JobQueueDepth> {
    return Promise.resolve({
      queued: this.#ready.length,
      delayed: this.#delayed.size,
      running: this.#running.size,
    });
  }

  getJob(id: string): Promise<JobHandle | undefined> {
    const entry = this.#get(id);
    return Promise.resolve(entry ? this.#handle(id, entry.name) : undefined);
  }

  /** {@inheritDoc JobQueue.close} */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const set of this.#waiters.values()) for (const w of set) w.settle(undefined);
    this.#waiters.clear();
    this.#wake();
    return Promise.resolve();
  }

  // ---- JobBackend ----------------------------------------------------------------------------

  /** {@inheritDoc JobBackend.claim} */
  claim(token: string, leaseMs: number): Promise<ClaimResult> {
    if (this.#closed) return Promise.reject(new ClosedError("The job queue is closed"));
    const now = clock.now();
    let nextDue: number | undefined;
    for (const id of this.#delayed) {
      const entry = this.#jobs.get(id)!;
      if (entry.runAt <= now) {
        this.#delayed.delete(id);
        entry.state = "queued";
        this.#ready.push(id);
      } else if (nextDue === undefined || entry.runAt < nextDue) nextDue = entry.runAt;
    }
    for (;;) {
      const id = this.#ready.shift();
      if (id === undefined) break;
      const entry = this.#jobs.get(id);
      if (!entry || entry.state !== "queued") continue;
      entry.state = "running";
      entry.tries++;
      entry.token = token;
      entry.leaseUntil = now + leaseMs;
      this.#running.add(id);
      return Promise.resolve({
        job: {
          id,
          name: entry.name,
          args: JSON.parse(entry.args),
          tryNumber: entry.tries,
          maxTries: entry.maxTries,
          timeout: entry.timeout,
          enqueuedAt: entry.enqueuedAt,
          token,
        },
      });
    }
    return Promise.resolve({
      job: undefined,
      nextDueInMs: nextDue === undefined ? undefined : Math.max(0, nextDue - now),
    });
  }

  /** {@inheritDoc JobBackend.openWorkSignal} */
  openWorkSignal(): Promise<WorkSignal> {
    // Level-triggered: a wake while no wait is in flight (or while a stale one is) makes the
    // next wait return at once, so a wake between a worker's claim and its wait is never lost.
    const state: SignalState = { dirty: false, pending: undefined, end: undefined };
    const signals = this.#signals;
    signals.add(state);
    const signal: WorkSignal = {
      wait: (timeoutMs: number) => {
        if (state.dirty) {
          state.dirty = false;
          return Promise.resolve();
        }
        if (state.pending) return state.pending;
        state.pending = new Promise<void>((resolve) => {
          const timer = clock.setTimeout(done, timeoutMs);
          function done() {
            clock.clearTimeout(timer);
            state.pending = undefined;
            state.end = undefined;
            resolve();
          }
          state.end = done;
        });
        return state.pending;
      },
      close: () => {
        signals.delete(state);
        state.end?.();
        return Promise.resolve();
      },
    };
    return Promise.resolve(signal);
  }

  /** {@inheritDoc JobBackend.renew} */
  renew(leases: readonly Lease[], leaseMs: number): Promise<Lease[]> {
    const now = clock.now();
    const lost: Lease[] = [];
    for (const { id, token } of leases) {
      const entry = this.#owned(id, token);
      if (entry) entry.leaseUntil = now + leaseMs;
      else lost.push({ id, token });
    }
    return Promise.resolve(lost);
  }

  /** {@inheritDoc JobBackend.complete} */
  complete(id: string, token: string, result: JsonValue): Promise<boolean> {
    const entry = this.#owned(id, token);
    if (!entry) return Promise.resolve(false);
    entry.result = JSON.stringify(result);
    this.#finish(entry, "completed");
    return Promise.resolve(true);
  }

  /** {@inheritDoc JobBackend.retry} */
  retry(id: string, token: string, error: string, delayMs: number): Promise<boolean> {
    const entry = this.#owned(id, token);
    if (!entry) return Promise.resolve(false);
    this.#running.delete(id);
    entry.token = undefined;
    entry.error = error;
    this.#requeue(entry, Math.max(0, delayMs), false);
    return Promise.resolve(true);
  }

  /** {@inheritDoc JobBackend.fail} */
  fail(id: string, token: string, error: string): Promise<boolean> {
    const entry = this.#owned(id, token);
    if (!entry) return Promise.resolve(false);
    entry.error = error;
    this.#finish(entry, "failed");
    return Promise.resolve(true);
  }

  /** {@inheritDoc JobBackend.release} */
  release(id: string, token: string): Promise<boolean> {
    const entry = this.#owned(id, token);
    if (!entry) return Promise.resolve(false);
    this.#running.delete(id);
    entry.token = undefined;
    entry.tries = Math.max(0, entry.tries - 1);
    this.#requeue(entry, 0, true);
    return Promise.resolve(true);
  }

  /** {@inheritDoc JobBackend.reap} */
  reap(): Promise<number> {
    const now = clock.now();
    let n = 0;
    for (const id of [...this.#running]) {
      const entry = this.#jobs.get(id)!;
      if ((entry.leaseUntil ?? 0) > now) continue;
      n++;
      entry.token = undefined;
      if (entry.tries >= entry.maxTries) {
        entry.error = `Lease expired (worker lost) on try ${entry.tries}`;
        this.#finish(entry, "failed");
      } else {
        this.#running.delete(id);
        this.#requeue(entry, 0, true);
      }
    }
    return Promise.resolve(n);
  }

  // ---- internals -----------------------------------------------------------------------------

  #handle(id: string, name: string): JobHandle {
    return {
      id,
      name,
      status: () => Promise.resolve(this.#status(id)),
      result: <T>(options?: ResultOptions) => this.#result(id, options) as Promise<T>,
    };
  }

  #status(id: string): JobStatus {
    const entry = this.#get(id);
    if (!entry) return "not_found";
    if (entry.state === "delayed" && entry.runAt <= clock.now()) return "queued";
    return entry.state;
  }

  #result(id: string, options: ResultOptions = {}): Promise<unknown> {
    const entry = this.#get(id);
    if (!entry) return Promise.reject(new UnknownJobError(id));
    if (isFinished(entry.state)) return settle(entry);
    if (this.#closed) return Promise.reject(new ClosedError("The job queue is closed"));
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const set = this.#waiters.get(id) ?? new Set();
      this.#waiters.set(id, set);
      const waiter: Waiter = {
        settle: (finished) => {
          clock.clearTimeout(timer);
          set.delete(waiter);
          if (finished) settle(finished).then(resolve, reject);
          else reject(new ClosedError("The job queue is closed"));
        },
      };
      set.add(waiter);
      if (options.timeout !== undefined) {
        timer = clock.setTimeout(() => {
          set.delete(waiter);
          if (set.size === 0 && this.#waiters.get(id) === set) this.#waiters.delete(id);
          reject(new ResultTimeoutError(id, options.timeout!));
        }, Math.max(0, options.timeout));
      }
    });
  }

  #get(id: string): Entry | undefined {
    const entry = this.#jobs.get(id);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= clock.now()) {
      this.#forget(id);
      return undefined;
    }
    return entry;
  }

  #owned(id: string, token: string): Entry | undefined {
    const entry = this.#jobs.get(id);
    return entry && entry.state === "running" && entry.token === token ? entry : undefined;
  }

  #requeue(entry: Entry, delayMs: number, front: boolean): void {
    const now = clock.now();
    entry.runAt = now + delayMs;
    if (delayMs > 0) {
      entry.state = "delayed";
      this.#delayed.add(entry.id);
    } else {
      entry.state = "queued";
      if (front) this.#ready.unshift(entry.id);
      else this.#ready.push(entry.id);
    }
    this.#wake();
  }

  #finish(entry: Entry, state: "completed" | "failed"): void {
    this.#running.delete(entry.id);
    entry.state = state;
    entry.token = undefined;
    entry.expiresAt = clock.now() + this.#keepResultMs;
    const waiters = this.#waiters.get(entry.id);
    this.#waiters.delete(entry.id);
    if (this.#keepResultMs > 0) this.#finished.push(entry.id);
    else this.#jobs.delete(entry.id);
    if (waiters) { for (const w of [...waiters]) w.settle(entry); }
  }

  #forget(id: string): void {
    this.#jobs.delete(id);
  }

  /** Drops finished jobs whose result expired (they finish in expiry order). */
  #sweep(): void {
    const now = clock.now();
    while (this.#finished.length) {
      const id = this.#finished[0];
      const entry = this.#jobs.get(id);
      if (entry && !isFinished(entry.state)) {
        this.#finished.shift();
        continue;
      }
      if (entry && (entry.expiresAt ?? 0) > now) break;
      this.#finished.shift();
      if (entry) this.#jobs.delete(id);
    }
  }

  #wake(): void {
    for (const state of this.#signals) {
      state.dirty = true;
      state.end?.();
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError("The job queue is closed");
  }
}

function isFinished(state: Entry["state"]): boolean {
  return state === "completed" || state === "failed";
}

function settle(entry: Entry): Promise<unknown> {
  if (entry.state === "completed") return Promise.resolve(JSON.parse(entry.result ?? "null"));
  return Promise.reject(new JobFailedError(entry.id, entry.error ?? "failed", entry.tries));
}

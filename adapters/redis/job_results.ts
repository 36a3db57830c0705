/**
 * How `RedisJobQueue.result()` waits: one pub/sub subscription per producer (queue instance) to
 * its own events channel, which `result()` registers on each waited job; a re-check of every
 * waited job after either connection comes back and every `recheckMs`, retried with backoff
 * until it succeeds (a job that vanished rejects with `JobLostError`). Internal to the Redis
 * job queue.
 *
 * @module
 */
import { ErrorReply } from "redis";
import { ClosedError, getLogger, LayerUnavailableError } from "../../src/layers/kit.ts";
import {
  JobFailedError,
  JobLostError,
  JobQueueUnavailableError,
  type JobStatus,
  type ResultOptions,
  ResultTimeoutError,
  UnknownJobError,
} from "../../src/jobs/contract.ts";
import {
  type BackoffOptions,
  closeLink,
  LazyLink,
  openLink,
  type RedisHost,
  type RedisLink,
} from "./redis_client.ts";
import { connectionHooks, type RedisJobQueueEvent } from "./job_events.ts";
import { Recheck } from "../../src/jobs/recheck.ts";

/** Where a job is, with its result or error once it finished. */
export interface Outcome {
  /** The state. */
  state: JobStatus;
  /** The result (completed jobs). */
  result?: unknown;
  /** The last error (failed jobs). */
  error?: string;
  /** How many times the job was started. */
  attempts?: number;
}

interface Waiter {
  settle(outcome: Outcome): void;
  abort(error: Error): void;
}

/** Longest pause between two tries of a failed re-check of waited jobs, in ms. */
const RECHECK_MAX_DELAY_MS = 2000;

/** What {@linkcode ResultWaiters} needs from its queue. */
export interface ResultWaitersOptions {
  /** Where the subscriber connects (duplicated when a client). */
  host: RedisHost;
  /** Reconnect backoff of a subscriber opened from a URL. */
  backoff: BackoffOptions | undefined;
  /** This producer's events channel. */
  channel: string;
  /** Period of the re-check while someone waits, in ms. */
  recheckMs: number;
  /** Reads a job's outcome; with `register`, registers `channel` as a waiter of the job. */
  look(id: string, register: boolean): Promise<Outcome>;
  /** Sends a command on the queue's command connection. */
  command(args: string[]): Promise<unknown>;
  /** Tells the queue's `onEvent` listeners. */
  emit(event: RedisJobQueueEvent): void;
}

/** The `result()` waits of one queue instance. */
export class ResultWaiters {
  readonly #o: ResultWaitersOptions;
  /** The subscriber link (opened on the first wait). */
  readonly #sub = new LazyLink(() => this.#subscribe());
  #waiters = new Map<string, Set<Waiter>>();
  #closed = false;
  readonly #recheck: Recheck;

  /** Creates the waiters; the subscription opens on the first wait. */
  constructor(options: ResultWaitersOptions) {
    this.#o = options;
    this.#recheck = new Recheck({
      pass: () => this.#recheckOnce(),
      waiting: () => this.#waiters.size,
      emit: options.emit,
      maxDelayMs: RECHECK_MAX_DELAY_MS,
      intervalMs: options.recheckMs,
      label: "Job queue",
    });
  }

  /** Rejects every wait with `ClosedError`, stops re-checking, closes the subscriber. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new ClosedError("The job queue is closed");
    for (const set of this.#waiters.values()) for (const w of [...set]) w.abort(closed);
    this.#waiters.clear();
    await this.#recheck.close();
    const sub = await this.#sub.opened();
    if (sub) {
      try {
        if (sub.client.isReady) await sub.client.unsubscribe(this.#o.channel);
      } catch {
        // closing anyway
      }
      await closeLink(sub);
    }
  }

  /** Waits for the outcome of job `id` (see `JobHandle.result`). */
  wait(id: string, options: ResultOptions = {}): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ClosedError("The job queue is closed"));
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const set = this.#waiters.get(id) ?? new Set<Waiter>();
      this.#waiters.set(id, set);
      const remove = () => {
        clearTimeout(timer);
        set.delete(waiter);
        if (set.size === 0 && this.#waiters.get(id) === set) this.#waiters.delete(id);
        if (this.#waiters.size === 0) this.#recheck.stop();
      };
      const waiter: Waiter = {
        settle: (outcome) => {
          remove();
          settle(id, outcome).then(resolve, reject);
        },
        abort: (error) => {
          remove();
          reject(error);
        },
      };
      set.add(waiter);
      this.#recheck.start();
      if (options.timeout !== undefined) {
        timer = setTimeout(
          () => waiter.abort(new ResultTimeoutError(id, options.timeout!)),
          Math.max(0, options.timeout),
        );
      }
      // Look (a finished job needs no subscription); then subscribe, register and look again:
      // an outcome published after the registration reaches the subscription, one before it is
      // in the hash.
      const look = (outcome: Outcome) => {
        if (!set.has(waiter)) return true;
        if (outcome.state === "not_found") waiter.abort(new UnknownJobError(id));
        else if (isFinal(outcome.state)) waiter.settle(outcome);
        else return false;
        return true;
      };
      this.#o.look(id, false).then(async (first) => {
        if (look(first)) return;
        await this.#subscribed();
        if (set.has(waiter) && !look(await this.#o.look(id, true))) {
          this.#o.emit({ type: "waiting", jobId: id });
        }
      }).catch((error) => {
        if (set.has(waiter)) waiter.abort(error);
      });
    });
  }

  #subscribed(): Promise<RedisLink> {
    return this.#sub.get();
  }

  async #subscribe(): Promise<RedisLink> {
    let conn: RedisLink;
    try {
      conn = await openLink(this.#o.host, "jobs events", {
        duplicate: true,
        backoff: this.#o.backoff,
        hooks: connectionHooks(this.#o.emit, "results", () => this.recheckAll()),
      });
    } catch (error) {
      throw unavailable("Subscribing to job results", error);
    }
    try {
      await conn.client.subscribe(this.#o.channel, (message) => this.#onEvent(message));
    } catch (error) {
      await closeLink(conn);
      throw unavailable("Subscribing to job results", error);
    }
    if (this.#closed) {
      await closeLink(conn);
      throw new ClosedError("The job queue is closed");
    }
    return conn;
  }

  #onEvent(message: string): void {
    let event: {
      id: string;
      state: JobStatus;
      result?: unknown;
      error?: string;
      attempts?: number;
    };
    try {
      event = JSON.parse(message);
    } catch {
      getLogger().warn("Job queue: bad event message", { message: message.slice(0, 200) });
      return;
    }
    const set = this.#waiters.get(event?.id);
    if (!set || !isFinal(event.state)) return;
    for (const w of [...set]) w.settle(event);
  }

  /**
   * Looks at every waited job again (a connection came back, or the periodic re-check): events
   * may have been missed, registrations lost with Redis's data, jobs lost altogether. Retried with
   * backoff until one pass succeeds or nobody waits any more.
   */
  recheckAll(): void {
    this.#recheck.request();
  }

  /** One look at every waited job; resolves with how many there were. */
  async #recheckOnce(): Promise<number> {
    await this.#subscribed();
    // The subscription must be live on the server before looking, or an outcome published in
    // between is lost: the channel is this producer's own, so one subscriber means ours.
    const numsub = await this.#o.command(["PUBSUB", "NUMSUB", this.#o.channel]) as unknown[];
    if (!(Number(numsub?.[1]) >= 1)) {
      throw new JobQueueUnavailableError("The job results subscription is not live yet");
    }
    const ids = [...this.#waiters.keys()];
    await Promise.all(ids.map(async (id) => {
      const outcome = await this.#o.look(id, true);
      const set = this.#waiters.get(id);
      if (!set) return;
      if (outcome.state === "not_found") {
        for (const w of [...set]) w.abort(new JobLostError(id));
      } else if (isFinal(outcome.state)) {
        for (const w of [...set]) w.settle(outcome);
      }
    }));
    return ids.length;
  }
}

function isFinal(state: JobStatus): boolean {
  return state === "completed" || state === "failed";
}

function settle(id: string, outcome: Outcome): Promise<unknown> {
  if (outcome.state === "completed") return Promise.resolve(outcome.result ?? null);
  if (outcome.state === "failed") {
    return Promise.reject(new JobFailedError(id, outcome.error ?? "failed", outcome.attempts ?? 0));
  }
  return Promise.reject(new UnknownJobError(id));
}

/** Reply errors that mean "Redis cannot serve this now", not "the command is wrong". */
const UNAVAILABLE_REPLY =
  /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY|NOREPLICAS|OOM)\b/;

/**
 * Maps a failure of a Redis call to {@linkcode JobQueueUnavailableError}, except errors Redis
 * replied that point at a bug (they are rethrown as they are) and errors already typed.
 */
export function unavailable(what: string, error: unknown): Error {
  if (error instanceof JobQueueUnavailableError || error instanceof ClosedError) return error;
  const message = String((error as Error)?.message ?? error);
  if (error instanceof ErrorReply && !UNAVAILABLE_REPLY.test(message)) return error;
  if (error instanceof LayerUnavailableError) {
    return new JobQueueUnavailableError(error.message, { cause: error });
  }
  return new JobQueueUnavailableError(`${what} failed: Redis is unavailable (${message})`, {
    cause: error,
  });
}

/**
 * {@linkcode RedisJobQueue}: a job queue on Redis shared by any number of producer and worker
 * processes. Workers block on a wake-up list (no polling delay), every state change is one Lua
 * script, running jobs hold a lease their worker renews, and a job whose worker died is returned
 * to the queue once its lease expires (seconds, not hours). Results are kept for `keepResultMs`
 * and announced on a pub/sub channel, so `result()` waits without polling.
 *
 * Key layout: see `job_scripts.ts` (`<prefix>:ready`, `:delayed`, `:running`, `:wake`,
 * `:job:<id>`, `:events`).
 *
 * @module
 */
import { ClosedError, getLogger } from "../../src/layer_api.ts";
import {
  checkEnqueue,
  type ClaimResult,
  type EnqueueOptions,
  type JobBackend,
  JobFailedError,
  type JobHandle,
  type JobQueue,
  type JobStatus,
  type JsonValue,
  type Lease,
  newJobId,
  type ResultOptions,
  ResultTimeoutError,
  UnknownJobError,
  type WorkSignal,
} from "../../src/jobs.ts";
import {
  type BackoffOptions,
  closeConnection,
  type Connection,
  openConnection,
  type RedisClientLike,
  type RedisHost,
} from "./redis_client.ts";
import type { Script } from "./scripts.ts";
import { CLAIM, COMPLETE, ENQUEUE, FAIL, REAP, RELEASE, RENEW, RETRY } from "./job_scripts.ts";

/** Options of {@linkcode RedisJobQueue}. */
export interface RedisJobQueueOptions {
  /** Redis URL; the queue owns its connections. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /**
   * A node-redis client to use for commands instead of `url` (never closed by the queue). The
   * queue `duplicate()`s it for the pub/sub and blocking connections, which it closes.
   */
  client?: RedisClientLike;
  /** The queue's name. Default `"default"`. */
  queueName?: string;
  /** Key prefix. Default `switchboard:jobs:<queueName>`. */
  prefix?: string;
  /** How long finished jobs (and their results) are kept, in ms. Default 3,600,000 (1 hour). */
  keepResultMs?: number;
  /** `maxTries` of jobs enqueued without one. Default 3. */
  defaultMaxTries?: number;
  /** Reconnect backoff of connections opened from `url`. */
  backoff?: BackoffOptions;
}

interface Outcome {
  state: JobStatus;
  result?: unknown;
  error?: string;
  attempts?: number;
}

interface Waiter {
  settle(outcome: Outcome): void;
  abort(error: Error): void;
}

/**
 * A job queue on Redis. Producers call {@linkcode enqueue}; workers are
 * `new Worker(queue, { functions })` in any process using the same Redis and queue name.
 *
 * ```ts ignore
 * const queue = new RedisJobQueue({ url: Deno.env.get("REDIS_URL") });
 * const job = await queue.enqueue("translate", [content, channelName], { timeout: 60_000 });
 * console.log(await job.result());
 * await queue.close();
 * ```
 */
export class RedisJobQueue implements JobQueue, JobBackend {
  readonly #host: RedisHost;
  readonly #backoff: BackoffOptions | undefined;
  readonly #keepResultMs: number;
  readonly #defaultMaxTries: number;
  readonly #prefix: string;
  readonly #keys: string[];
  readonly #jobPrefix: string;
  readonly #events: string;
  #cmd: Promise<Connection> | undefined;
  #sub: Promise<Connection> | undefined;
  #signals = new Set<{ close(): Promise<void> }>();
  #waiters = new Map<string, Set<Waiter>>();
  #closed = false;

  /** Creates the queue; connections open on first use. */
  constructor(options: RedisJobQueueOptions = {}) {
    if (options.url !== undefined && options.client !== undefined) {
      throw new TypeError("Pass either url or client, not both");
    }
    this.#host = options.client ?? options.url ?? "redis://127.0.0.1:6379";
    this.#backoff = options.backoff;
    const queueName = options.queueName ?? "default";
    if (!/^[A-Za-z0-9_.\-]{1,64}$/.test(queueName)) {
      throw new TypeError("queueName must be 1-64 ASCII letters, digits, '-', '_' or '.'");
    }
    this.#prefix = options.prefix ?? `switchboard:jobs:${queueName}`;
    if (typeof this.#prefix !== "string" || !/^\S{1,200}$/.test(this.#prefix)) {
      throw new TypeError("prefix must be 1-200 characters without whitespace");
    }
    this.#keepResultMs = Math.max(0, Math.round(options.keepResultMs ?? 3_600_000));
    this.#defaultMaxTries = options.defaultMaxTries ?? 3;
    if (!Number.isInteger(this.#defaultMaxTries) || this.#defaultMaxTries < 1) {
      throw new TypeError("defaultMaxTries must be a positive integer");
    }
    const p = this.#prefix;
    this.#keys = [`${p}:ready`, `${p}:delayed`, `${p}:running`, `${p}:wake`];
    this.#jobPrefix = `${p}:job:`;
    this.#events = `${p}:events`;
  }

  /** The key prefix in use. */
  get prefix(): string {
    return this.#prefix;
  }

  /** {@inheritDoc JobQueue.enqueue} */
  async enqueue<A extends JsonValue[]>(
    name: string,
    args: A,
    options: EnqueueOptions = {},
  ): Promise<JobHandle> {
    this.#assertOpen();
    const checked = checkEnqueue(name, args, options, this.#defaultMaxTries);
    const id = options.jobId ?? newJobId();
    const reply = await this.#run(ENQUEUE, [
      id,
      name,
      checked.args,
      String(checked.delay),
      String(checked.maxTries),
      checked.timeout === undefined ? "" : String(checked.timeout),
    ]) as unknown[];
    return this.#handle(id, String(reply[1]));
  }

  /** {@inheritDoc JobQueue.getJob} */
  async getJob(id: string): Promise<JobHandle | undefined> {
    this.#assertOpen();
    const name = await this.#command(["HGET", this.#jobPrefix + id, "name"]);
    return name === null || name === undefined ? undefined : this.#handle(id, String(name));
  }

  /** {@inheritDoc JobQueue.close} */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new ClosedError("The job queue is closed");
    for (const set of this.#waiters.values()) for (const w of [...set]) w.abort(closed);
    this.#waiters.clear();
    await Promise.all([...this.#signals].map((s) => s.close()));
    const sub = await this.#sub?.catch(() => undefined);
    if (sub) {
      try {
        if (sub.client.isReady) await sub.client.unsubscribe(this.#events);
      } catch {
        // closing anyway
      }
      await closeConnection(sub);
    }
    const cmd = await this.#cmd?.catch(() => undefined);
    if (cmd) await closeConnection(cmd);
  }

  // ---- JobBackend ----------------------------------------------------------------------------

  /** {@inheritDoc JobBackend.claim} */
  async claim(token: string, leaseMs: number): Promise<ClaimResult> {
    this.#assertOpen();
    const reply = await this.#run(CLAIM, [token, String(Math.round(leaseMs))]) as unknown[];
    if (Number(reply[0]) !== 1) {
      const next = Number(reply[1]);
      return { job: undefined, nextDueInMs: next < 0 ? undefined : next };
    }
    const [, id, name, args, tries, maxTries, timeout, enqueuedAt] = reply;
    return {
      job: {
        id: String(id),
        name: String(name),
        args: JSON.parse(String(args)),
        tryNumber: Number(tries),
        maxTries: Number(maxTries),
        timeout: timeout === "" || timeout === null || timeout === undefined
          ? undefined
          : Number(timeout),
        enqueuedAt: Number(enqueuedAt),
        token,
      },
    };
  }

  /** {@inheritDoc JobBackend.openWorkSignal} */
  async openWorkSignal(): Promise<WorkSignal> {
    this.#assertOpen();
    const conn = await openConnection(this.#host, "jobs blocking reader", {
      duplicate: true,
      backoff: this.#backoff,
    });
    const wakeKey = this.#keys[3];
    let dirty = false;
    let closed = false;
    let pending: Promise<void> | undefined;
    const signals = this.#signals;
    const signal = {
      wait: (timeoutMs: number): Promise<void> => {
        if (dirty || closed) {
          dirty = false;
          return Promise.resolve();
        }
        if (pending) return pending;
        const seconds = (Math.max(10, timeoutMs) / 1000).toFixed(3);
        pending = conn.client.sendCommand(["BLPOP", wakeKey, seconds]).then(
          (reply) => {
            // Level-triggered: remember a token nobody may be awaiting any more.
            if (reply !== null && reply !== undefined) dirty = true;
          },
          async () => {
            // Connection trouble: do not spin; the worker claims (and backs off) on its own.
            if (!closed) await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 500)));
          },
        ).finally(() => pending = undefined);
        return pending;
      },
      close: async (): Promise<void> => {
        if (closed) return;
        closed = true;
        signals.delete(signal);
        conn.detach();
        try {
          conn.client.destroy();
        } catch {
          // already closed
        }
        await pending?.catch(() => {});
        await conn.settled();
      },
    };
    signals.add(signal);
    return signal;
  }

  /** {@inheritDoc JobBackend.renew} */
  async renew(leases: readonly Lease[], leaseMs: number): Promise<string[]> {
    if (leases.length === 0) return [];
    const args = [String(Math.round(leaseMs))];
    for (const { id, token } of leases) args.push(id, token);
    const reply = await this.#run(RENEW, args) as unknown[];
    return reply.map(String);
  }

  /** {@inheritDoc JobBackend.complete} */
  async complete(id: string, token: string, result: JsonValue): Promise<boolean> {
    const reply = await this.#run(COMPLETE, [
      id,
      token,
      JSON.stringify(result),
      String(this.#keepResultMs),
    ]);
    return Number(reply) === 1;
  }

  /** {@inheritDoc JobBackend.retry} */
  async retry(id: string, token: string, error: string, delayMs: number): Promise<boolean> {
    const reply = await this.#run(RETRY, [
      id,
      token,
      error,
      String(Math.max(0, Math.round(delayMs))),
    ]);
    return Number(reply) === 1;
  }

  /** {@inheritDoc JobBackend.fail} */
  async fail(id: string, token: string, error: string): Promise<boolean> {
    const reply = await this.#run(FAIL, [id, token, error, String(this.#keepResultMs)]);
    return Number(reply) === 1;
  }

  /** {@inheritDoc JobBackend.release} */
  async release(id: string, token: string): Promise<boolean> {
    const reply = await this.#run(RELEASE, [id, token]);
    return Number(reply) === 1;
  }

  /** {@inheritDoc JobBackend.reap} */
  async reap(): Promise<number> {
    return Number(await this.#run(REAP, [String(this.#keepResultMs)]));
  }

  // ---- internals -----------------------------------------------------------------------------

  #handle(id: string, name: string): JobHandle {
    return {
      id,
      name,
      status: async () => (await this.#outcome(id, false)).state,
      result: <T>(options?: ResultOptions) => this.#result(id, options) as Promise<T>,
    };
  }

  /** Reads where a job is (and its result or error when it finished). */
  async #outcome(id: string, withResult: boolean): Promise<Outcome> {
    const fields = withResult
      ? ["state", "runAt", "tries", "result", "error"]
      : ["state", "runAt", "tries"];
    const reply = await this.#command(["HMGET", this.#jobPrefix + id, ...fields]) as unknown[];
    const state = reply[0] === null || reply[0] === undefined ? "not_found" : String(reply[0]);
    if (state === "not_found") return { state };
    if (state === "delayed" && Number(reply[1]) <= Date.now()) return { state: "queued" };
    const outcome: Outcome = { state: state as JobStatus, attempts: Number(reply[2]) };
    if (withResult && state === "completed") outcome.result = JSON.parse(String(reply[3]));
    if (withResult && state === "failed") outcome.error = String(reply[4] ?? "failed");
    return outcome;
  }

  async #result(id: string, options: ResultOptions = {}): Promise<unknown> {
    this.#assertOpen();
    const first = await this.#outcome(id, true);
    if (isFinal(first.state)) return settle(id, first);
    this.#assertOpen();
    return await new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const set = this.#waiters.get(id) ?? new Set<Waiter>();
      this.#waiters.set(id, set);
      const remove = () => {
        clearTimeout(timer);
        set.delete(waiter);
        if (set.size === 0 && this.#waiters.get(id) === set) this.#waiters.delete(id);
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
      if (options.timeout !== undefined) {
        timer = setTimeout(
          () => waiter.abort(new ResultTimeoutError(id, options.timeout!)),
          Math.max(0, options.timeout),
        );
      }
      // Subscribe, then look again: a job that finished in between is not missed.
      this.#subscribed().then(() => this.#outcome(id, true)).then((outcome) => {
        if (set.has(waiter) && isFinal(outcome.state)) waiter.settle(outcome);
      }).catch((error) => {
        if (set.has(waiter)) waiter.abort(error);
      });
    });
  }

  #subscribed(): Promise<Connection> {
    if (!this.#sub) {
      const sub = (async () => {
        const conn = await openConnection(this.#host, "jobs events", {
          duplicate: true,
          backoff: this.#backoff,
          hooks: { onUp: () => this.#recheckAll() },
        });
        try {
          await conn.client.subscribe(this.#events, (message) => this.#onEvent(message));
        } catch (error) {
          await closeConnection(conn);
          throw error;
        }
        if (this.#closed) {
          await closeConnection(conn);
          throw new ClosedError("The job queue is closed");
        }
        return conn;
      })();
      this.#sub = sub;
      sub.catch(() => {
        if (this.#sub === sub) this.#sub = undefined;
      });
    }
    return this.#sub;
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
      getLogger().warn("Job queue: bad event message", { message });
      return;
    }
    const set = this.#waiters.get(event.id);
    if (!set) return;
    for (const w of [...set]) w.settle(event);
  }

  /** After the subscriber reconnected: events may have been missed, so look at every waited job. */
  #recheckAll(): void {
    for (const [id, set] of this.#waiters) {
      this.#outcome(id, true).then((outcome) => {
        if (isFinal(outcome.state)) { for (const w of [...set]) w.settle(outcome); }
      }).catch(() => {});
    }
  }

  #connection(): Promise<Connection> {
    if (!this.#cmd) {
      const cmd = openConnection(this.#host, "jobs", { duplicate: false, backoff: this.#backoff });
      this.#cmd = cmd;
      cmd.catch(() => {
        if (this.#cmd === cmd) this.#cmd = undefined;
      });
    }
    return this.#cmd;
  }

  async #command(args: string[]): Promise<unknown> {
    const conn = await this.#connection();
    return await conn.client.sendCommand(args);
  }

  async #run(script: Script, args: string[]): Promise<unknown> {
    const conn = await this.#connection();
    return await script.run(conn.client, this.#keys, [this.#jobPrefix, this.#events, ...args]);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError("The job queue is closed");
  }
}

function isFinal(state: JobStatus): boolean {
  return state === "completed" || state === "failed" || state === "not_found";
}

function settle(id: string, outcome: Outcome): Promise<unknown> {
  if (outcome.state === "completed") return Promise.resolve(outcome.result ?? null);
  if (outcome.state === "failed") {
    return Promise.reject(new JobFailedError(id, outcome.error ?? "failed", outcome.attempts ?? 0));
  }
  return Promise.reject(new UnknownJobError(id));
}

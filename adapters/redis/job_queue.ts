/**
 * {@linkcode RedisJobQueue}: a job queue on Redis shared by any number of producer and worker
 * processes. Workers block on a wake-up list (no polling delay), every state change is one Lua
 * script on Redis time, running jobs hold a lease their worker renews, and a job whose worker
 * died is returned to the queue once its lease expires (seconds, not hours). Results are kept
 * for `keepResultMs`; a producer waiting in `result()` registers its own events channel on the
 * job and receives that job's outcome only.
 *
 * Faults: a command that cannot reach Redis rejects with `JobQueueUnavailableError`. Waits in
 * `result()` survive reconnects: after either connection comes back (and every
 * `resultRecheckMs`) each waited job is looked at again, retried with backoff until it succeeds;
 * a job whose data is gone (Redis restarted without persistence) rejects with `JobLostError`.
 * `onEvent` tells each of that as it happens ({@linkcode RedisJobQueueEvent}).
 *
 * Key layout: see `job_scripts.ts`.
 *
 * @module
 */
import { ClosedError } from "../../src/layers/kit.ts";
import { Listeners } from "../../src/listeners.ts";
import { connectionHooks, type RedisJobQueueEvent } from "./job_events.ts";
import {
  checkEnqueue,
  type ClaimResult,
  type EnqueueOptions,
  type JobBackend,
  type JobHandle,
  type JobQueue,
  type JobQueueDepth,
  type JobStatus,
  type JsonValue,
  type Lease,
  newJobId,
  type ResultOptions,
  type WorkSignal,
} from "../../src/jobs/contract.ts";
import {
  type BackoffOptions,
  closeLink,
  LazyLink,
  openLink,
  type RedisClientLike,
  type RedisHost,
  type RedisLink,
} from "./redis_client.ts";
import type { Script } from "./scripts.ts";
import { blockingSignal } from "./job_signal.ts";
import { type RedisJobQueueOptions, resolveQueueOptions } from "./job_options.ts";

export type { RedisJobQueueOptions } from "./job_options.ts";
import { type Outcome, ResultWaiters, unavailable } from "./job_results.ts";
import {
  CLAIM,
  COMPLETE,
  ENQUEUE,
  EXPIRED,
  FAIL,
  REAP,
  RELEASE,
  RENEW,
  RETRY,
  STATUS,
} from "./job_scripts.ts";

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
  readonly #recheckMs: number;
  readonly #prefix: string;
  readonly #ready: string;
  readonly #delayed: string;
  readonly #runningKey: string;
  readonly #wake: string;
  readonly #jobPrefix: string;
  /** This producer's events channel: outcomes of the jobs it waits for. */
  readonly #events: string;
  readonly #waiters: ResultWaiters;
  readonly #listeners = new Listeners<RedisJobQueueEvent>("Redis job queue");
  readonly #emit = (event: RedisJobQueueEvent) => this.#listeners.emit(event);
  /** The command link (opened on first use). */
  readonly #link = new LazyLink(() =>
    openLink(this.#host, "jobs", {
      duplicate: false,
      backoff: this.#backoff,
      hooks: connectionHooks(this.#emit, "commands", () => this.#waiters.recheckAll()),
    })
  );
  #signals = new Set<{ close(): Promise<void> }>();
  #closed = false;
  /** The ready list's head after the last claim (a hint: saves a round trip in bursts). */
  #headHint = "";

  /** Creates the queue; connections open on first use. */
  constructor(options: RedisJobQueueOptions = {}) {
    const resolved = resolveQueueOptions(options);
    this.#host = resolved.host;
    this.#backoff = options.backoff;
    this.#prefix = resolved.prefix;
    this.#keepResultMs = resolved.keepResultMs;
    this.#defaultMaxTries = resolved.defaultMaxTries;
    this.#recheckMs = resolved.recheckMs;
    const p = this.#prefix;
    this.#ready = `${p}:ready`;
    this.#delayed = `${p}:delayed`;
    this.#runningKey = `${p}:running`;
    this.#wake = `${p}:wake`;
    this.#jobPrefix = `${p}:job:`;
    this.#events = `${p}:events:${newJobId().slice(0, 16)}`;
    this.#waiters = new ResultWaiters({
      host: this.#host,
      backoff: this.#backoff,
      channel: this.#events,
      recheckMs: this.#recheckMs,
      look: (id, register) => this.#outcome(id, register),
      command: (args) => this.#command(args),
      emit: this.#emit,
    });
  }

  /**
   * Calls `listener` with each {@linkcode RedisJobQueueEvent}, synchronously (a listener that
   * throws is logged); returns the function that removes it.
   */
  onEvent(listener: (event: RedisJobQueueEvent) => void): () => void {
    return this.#listeners.listen(listener);
  }

  /** How many jobs wait, are delayed and run now (three reads, not atomic together). */
  async depth(): Promise<JobQueueDepth> {
    const [queued, delayed, running] = await Promise.all([
      this.#command(["LLEN", this.#ready]),
      this.#command(["ZCARD", this.#delayed]),
      this.#command(["ZCARD", this.#runningKey]),
    ]);
    return { queued: Number(queued), delayed: Number(delayed), running: Number(running) };
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
    const reply = await this.#run(
      ENQUEUE,
      [this.#ready, this.#delayed, this.#wake, this.#jobKey(id)],
      [
        id,
        name,
        checked.args,
        String(checked.delay),
        String(checked.maxTries),
        checked.timeout === undefined ? "" : String(checked.timeout),
      ],
    ) as unknown[];
    return this.#handle(id, String(reply[1]));
  }

  /** {@inheritDoc JobQueue.getJob} */
  async getJob(id: string): Promise<JobHandle | undefined> {
    this.#assertOpen();
    const name = await this.#command(["HGET", this.#jobKey(id), "name"]);
    return name === null || name === undefined ? undefined : this.#handle(id, String(name));
  }

  /** {@inheritDoc JobQueue.close} */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#waiters.close();
    await Promise.all([...this.#signals].map((s) => s.close()));
    const cmd = await this.#link.opened();
    if (cmd) await closeLink(cmd);
  }

  // ---- JobBackend ----------------------------------------------------------------------------

  /** {@inheritDoc JobBackend.claim} */
  async claim(token: string, leaseMs: number): Promise<ClaimResult> {
    this.#assertOpen();
    const keys = [this.#ready, this.#delayed, this.#runningKey, this.#wake];
    const lease = String(Math.round(leaseMs));
    // Claim the id at the head of the ready list with its key declared: the head the last claim
    // saw, else look first. Another worker may take it first; then the reply names the new head.
    let expected = this.#headHint;
    this.#headHint = "";
    for (let round = 0; round < 100; round++) {
      const reply = await this.#run(
        CLAIM,
        expected === "" ? keys : [...keys, this.#jobKey(expected)],
        [token, lease, expected],
      ) as unknown[];
      const kind = Number(reply[0]);
      if (kind === 2) {
        expected = String(reply[1]);
        continue;
      }
      if (kind !== 1) {
        const next = Number(reply[1]);
        return { job: undefined, nextDueInMs: next < 0 ? undefined : next };
      }
      const [, id, name, args, tries, maxTries, timeout, enqueuedAt, nextHead] = reply;
      this.#headHint = typeof nextHead === "string" ? nextHead : "";
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
    // Heavy contention: let the worker come back at once.
    return { job: undefined, nextDueInMs: 0 };
  }

  /** {@inheritDoc JobBackend.openWorkSignal} */
  async openWorkSignal(): Promise<WorkSignal> {
    this.#assertOpen();
    let conn: RedisLink;
    try {
      conn = await openLink(this.#host, "jobs blocking reader", {
        duplicate: true,
        backoff: this.#backoff,
        hooks: connectionHooks(this.#emit, "blocking"),
      });
    } catch (error) {
      throw unavailable("Opening the job queue's blocking reader", error);
    }
    const signal = blockingSignal(conn, this.#wake, (id) => {
      if (this.#headHint === "") this.#headHint = id;
    }, () => this.#signals.delete(signal));
    this.#signals.add(signal);
    return signal;
  }

  /** {@inheritDoc JobBackend.renew} */
  async renew(leases: readonly Lease[], leaseMs: number): Promise<Lease[]> {
    if (leases.length === 0) return [];
    const keys = [this.#runningKey];
    const args = [String(Math.round(leaseMs))];
    for (const { id, token } of leases) {
      keys.push(this.#jobKey(id));
      args.push(id, token);
    }
    const reply = await this.#run(RENEW, keys, args) as unknown[];
    return reply.map((i) => leases[Number(i) - 1]).filter((l) => l !== undefined);
  }

  /** {@inheritDoc JobBackend.complete} */
  async complete(id: string, token: string, result: JsonValue): Promise<boolean> {
    const reply = await this.#run(
      COMPLETE,
      [this.#runningKey, this.#jobKey(id), this.#waitersKey(id)],
      [id, token, JSON.stringify(result), String(this.#keepResultMs)],
    );
    return Number(reply) === 1;
  }

  /** {@inheritDoc JobBackend.retry} */
  async retry(id: string, token: string, error: string, delayMs: number): Promise<boolean> {
    const reply = await this.#run(
      RETRY,
      [this.#ready, this.#delayed, this.#runningKey, this.#wake, this.#jobKey(id)],
      [id, token, error, String(Math.max(0, Math.round(delayMs)))],
    );
    return Number(reply) === 1;
  }

  /** {@inheritDoc JobBackend.fail} */
  async fail(id: string, token: string, error: string): Promise<boolean> {
    const reply = await this.#run(
      FAIL,
      [this.#runningKey, this.#jobKey(id), this.#waitersKey(id)],
      [id, token, error, String(this.#keepResultMs)],
    );
    return Number(reply) === 1;
  }

  /** {@inheritDoc JobBackend.release} */
  async release(id: string, token: string): Promise<boolean> {
    const reply = await this.#run(
      RELEASE,
      [this.#ready, this.#runningKey, this.#wake, this.#jobKey(id)],
      [id, token],
    );
    return Number(reply) === 1;
  }

  /** {@inheritDoc JobBackend.reap} */
  async reap(): Promise<number> {
    const ids = await this.#run(EXPIRED, [this.#runningKey], []) as unknown[];
    let n = 0;
    for (const raw of ids) {
      const id = String(raw);
      const reply = await this.#run(
        REAP,
        [this.#ready, this.#runningKey, this.#wake, this.#jobKey(id), this.#waitersKey(id)],
        [id, String(this.#keepResultMs)],
      );
      n += Number(reply) === 1 ? 1 : 0;
    }
    return n;
  }

  // ---- internals -----------------------------------------------------------------------------

  #jobKey(id: string): string {
    return this.#jobPrefix + id;
  }

  #waitersKey(id: string): string {
    return `${this.#jobPrefix}${id}:waiters`;
  }

  #handle(id: string, name: string): JobHandle {
    return {
      id,
      name,
      status: async () => {
        this.#assertOpen();
        return (await this.#outcome(id, false)).state;
      },
      result: <T>(options?: ResultOptions) => {
        if (this.#closed) return Promise.reject(new ClosedError("The job queue is closed"));
        return this.#waiters.wait(id, options) as Promise<T>;
      },
    };
  }

  /**
   * Reads where a job is on Redis time (with its result or error when it finished); with
   * `register`, also registers this producer's events channel as a waiter of an unfinished job.
   */
  async #outcome(id: string, register: boolean): Promise<Outcome> {
    const reply = await this.#run(
      STATUS,
      [this.#jobKey(id), this.#waitersKey(id)],
      [register ? this.#events : "", String(Math.max(4 * this.#recheckMs, 60_000))],
    ) as unknown[];
    const state = reply[0] ? String(reply[0]) as JobStatus : "not_found";
    if (state === "not_found") return { state };
    const outcome: Outcome = { state, attempts: Number(reply[1]) };
    if (state === "completed") outcome.result = JSON.parse(String(reply[2]) || "null");
    if (state === "failed") outcome.error = String(reply[3] || "failed");
    return outcome;
  }

  #command(args: string[]): Promise<unknown> {
    return this.#withClient(`Job queue ${args[0]}`, (client) => client.sendCommand(args));
  }

  #run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    return this.#withClient("Job queue script", (client) => script.run(client, keys, args));
  }

  async #withClient<T>(what: string, use: (client: RedisClientLike) => Promise<T>): Promise<T> {
    try {
      return await use((await this.#link.get()).client);
    } catch (error) {
      throw unavailable(what, error);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError("The job queue is closed");
  }
}

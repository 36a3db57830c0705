/**
 * {@linkcode NatsJobQueue}: the background job queue on NATS JetStream (a KV bucket for the jobs,
 * a work-queue stream for the ready ones: see `job_store.ts`), with the same contract as the
 * in-memory and Redis queues: delays, retries, timeouts, leases, result expiry, dedupe by job id.
 * `onEvent` tells its connection's drops and returns, `result()` waits registered and the
 * re-check of waited jobs after a reconnect ({@linkcode NatsJobQueueEvent}).
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { ClosedError } from "../../src/layers/kit.ts";
import { clock } from "../../src/clock.ts";
import {
  checkEnqueue,
  type ClaimResult,
  type EnqueueOptions,
  type JobBackend,
  type JobHandle,
  type JobQueue,
  type JobQueueDepth,
  JobQueueUnavailableError,
  type JobStatus,
  type JsonValue,
  type Lease,
  newJobId,
  newJobRecord,
  type ResultOptions,
  UnknownJobError,
  type WorkSignal,
} from "../../src/jobs/contract.ts";
import { type JobEntry, JobStore, keyOf } from "./job_store.ts";
import { isFinished, ResultWaiters, settle } from "./job_results.ts";
import {
  type NatsBackoffOptions,
  NatsLink,
  type NatsTimeouts,
  resolveNatsTimeouts,
} from "./link.ts";
import { assertSubjectPrefix } from "./subjects.ts";
import { PutBackTimes, wakeSignal } from "./job_signal.ts";
import type { NatsJobQueueEvent } from "./job_events.ts";
import { Listeners } from "../../src/listeners.ts";

/** Options of {@linkcode NatsJobQueue}. */
export interface NatsJobQueueOptions {
  /** NATS server URLs (default `nats://127.0.0.1:4222`); the server must run JetStream. */
  servers?: string | string[];
  /** Subject prefix (and part of the stream and bucket names). Default `"switchboard"`. */
  prefix?: string;
  /** The queue's name: queues of one prefix are apart. Default `"default"`. */
  queue?: string;
  /** How long finished jobs (and their results) are kept, in ms. Default 3,600,000 (1 hour). */
  keepResultMs?: number;
  /** `maxTries` of jobs enqueued without one. Default 3. */
  defaultMaxTries?: number;
  /** Connect and request timeouts (default 5 s each). */
  timeouts?: NatsTimeouts;
  /** Reconnect backoff. */
  backoff?: NatsBackoffOptions;
  /**
   * How often pending `result()` waits read their jobs again besides after a reconnect, in ms:
   * finds a job whose `done` message was lost without a reconnect of this producer (a worker
   * that died between writing the job and publishing it) or whose data vanished. Default 30,000.
   */
  resultRecheckMs?: number;
}

/** Stale ready messages (their job moved on) are dropped after this many deliveries. */
const STALE_DELIVERIES = 5;
/** Ready messages one claim looks at before it gives up for now. */
const CLAIM_SCAN = 32;

/**
 * A job queue on NATS JetStream for many processes. Pass it to `new Worker(queue, …)` to run its
 * jobs. Delivery is at least once; a released or retried job goes to the back of the ready
 * stream (JetStream streams have no front). Finished jobs stay in the bucket until a read finds
 * them expired (`keepResultMs`).
 *
 * ```ts ignore
 * const queue = new NatsJobQueue({ servers: "nats://127.0.0.1:4222" });
 * const job = await queue.enqueue("translate", ["hello", channelName]);
 * ```
 */
export class NatsJobQueue implements JobQueue, JobBackend {
  readonly #prefix: string;
  readonly #queue: string;
  readonly #keepResultMs: number;
  readonly #defaultMaxTries: number;
  readonly #timeouts: Required<NatsTimeouts>;
  readonly #link: NatsLink;
  #store: Promise<JobStore> | undefined;
  #closed = false;
  readonly #listeners = new Listeners<NatsJobQueueEvent>("NATS job queue");
  readonly #emit = (event: NatsJobQueueEvent) => this.#listeners.emit(event);
  readonly #results: ResultWaiters;
  #signals = new Set<() => Promise<void>>();
  /** Messages this process put back (NAK with a delay) and when they are due. */
  readonly #putBack = new PutBackTimes();

  /** Creates a queue; it connects on first use. */
  constructor(options: NatsJobQueueOptions = {}) {
    this.#prefix = options.prefix ?? "switchboard";
    assertSubjectPrefix(this.#prefix);
    this.#queue = options.queue ?? "default";
    JobStore.assertQueueName(this.#queue);
    this.#keepResultMs = Math.max(0, Math.round(options.keepResultMs ?? 3_600_000));
    this.#defaultMaxTries = options.defaultMaxTries ?? 3;
    if (!Number.isInteger(this.#defaultMaxTries) || this.#defaultMaxTries < 1) {
      throw new TypeError("defaultMaxTries must be a positive integer");
    }
    this.#timeouts = resolveNatsTimeouts(options.timeouts);
    const recheckMs = options.resultRecheckMs ?? 30_000;
    if (typeof recheckMs !== "number" || !(recheckMs >= 10) || !Number.isFinite(recheckMs)) {
      throw new TypeError("resultRecheckMs must be a number of ms >= 10");
    }
    this.#results = new ResultWaiters({
      confirm: () => this.#link.confirm("re-checking waited jobs"),
      emit: this.#emit,
      recheckMs,
    });
    const servers = [options.servers ?? "nats://127.0.0.1:4222"].flat();
    this.#link = new NatsLink({ servers }, "job queue", {
      timeouts: this.#timeouts,
      backoff: options.backoff,
      hooks: {
        down: (reason) => this.#emit({ type: "disconnected", reason }),
        up: () => {
          this.#emit({ type: "reconnected" });
          void this.#reconnected();
        },
      },
    });
  }

  /**
   * Calls `listener` with each {@linkcode NatsJobQueueEvent}, synchronously (a listener that
   * throws is logged; the others still run). Returns the function that removes it.
   */
  onEvent(listener: (event: NatsJobQueueEvent) => void): () => void {
    return this.#listeners.listen(listener);
  }

  #open(): Promise<JobStore> {
    if (this.#closed) return Promise.reject(new ClosedError("The job queue is closed"));
    this.#store ??= (async () => {
      try {
        const nc = await this.#link.open() as unknown as NatsConnection;
        return await JobStore.open(nc, this.#prefix, this.#queue, this.#timeouts.commandTimeoutMs);
      } catch (error) {
        this.#store = undefined;
        if (error instanceof JobQueueUnavailableError) throw error;
        throw new JobQueueUnavailableError(`NATS is unavailable: ${(error as Error).message}`, {
          cause: error,
        });
      }
    })();
    return this.#store;
  }

  /** After a reconnect: the store is checked on its next call, then waited jobs are read again. */
  async #reconnected(): Promise<void> {
    (await this.#store?.catch(() => undefined))?.reconnected();
    this.#results.recheckAll();
  }

  #expired(entry: JobEntry | undefined): boolean {
    return !!entry && entry.expiresAt !== undefined && entry.expiresAt <= clock.now();
  }

  /** {@inheritDoc JobQueue.enqueue} */
  async enqueue<A extends JsonValue[]>(
    name: string,
    args: A,
    options: EnqueueOptions = {},
  ): Promise<JobHandle> {
    if (this.#closed) throw new ClosedError("The job queue is closed");
    const checked = checkEnqueue(name, args, options, this.#defaultMaxTries);
    const store = await this.#open();
    const id = options.jobId ?? newJobId();
    for (;;) {
      const { entry, revision } = await store.read(id);
      if (entry && !this.#expired(entry) && !isFinished(entry.state)) {
        return this.#handle(id, entry.name);
      }
      const now = clock.now();
      const ticket = newJobId();
      const next: JobEntry = { ...newJobRecord(id, name, checked, now), ticket };
      // The message first: a message whose entry did not land is stale and dropped by claims.
      await store.publishReady(id, ticket);
      if (await store.write(next, revision)) break;
    }
    store.wake();
    return this.#handle(id, name);
  }

  /** {@inheritDoc JobQueue.depth} */
  async depth(): Promise<JobQueueDepth> {
    return await (await this.#open()).depth();
  }

  /** {@inheritDoc JobQueue.getJob} */
  async getJob(id: string): Promise<JobHandle | undefined> {
    const entry = await this.#read(id);
    return entry ? this.#handle(id, entry.name) : undefined;
  }

  async #read(id: string): Promise<JobEntry | undefined> {
    const store = await this.#open();
    const { entry } = await store.read(id);
    if (this.#expired(entry)) {
      await store.forget(id);
      return undefined;
    }
    return entry;
  }

  /** {@inheritDoc JobQueue.close} */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const rechecked = this.#results.close();
    await Promise.all([...this.#signals].map((close) => close()));
    (await this.#store?.catch(() => undefined))?.close();
    await this.#link.close();
    await rechecked;
  }

  // ---- JobBackend ----------------------------------------------------------------------------

  /** {@inheritDoc JobBackend.claim} */
  async claim(token: string, leaseMs: number): Promise<ClaimResult> {
    const store = await this.#open();
    for (let scanned = 0; scanned < CLAIM_SCAN; scanned++) {
      if (this.#closed) throw new ClosedError("The job queue is closed");
      const message = await store.takeReady();
      if (!message) break;
      const body = message.body;
      if (!body) {
        message.ack();
        continue;
      }
      this.#putBack.delete(body.ticket);
      for (;;) {
        const { entry, revision } = await store.read(body.id);
        const current = entry && entry.ticket === body.ticket &&
          (entry.state === "queued" || entry.state === "delayed");
        if (!entry || !current) {
          // Stale, or its entry is still being written (the message goes out first): look
          // again a little later, a few times.
          if (message.delivered >= STALE_DELIVERIES) message.ack();
          else {
            message.nak(100 * message.delivered);
            this.#putBack.note(body.ticket, clock.now() + 100 * message.delivered);
          }
          break;
        }
        const now = clock.now();
        if (entry.runAt > now) {
          message.nak(entry.runAt - now);
          this.#putBack.note(body.ticket, entry.runAt);
          break;
        }
        await store.markRunning(entry.id);
        const running: JobEntry = {
          ...entry,
          state: "running",
          tries: entry.tries + 1,
          token,
          leaseUntil: now + leaseMs,
          ticket: undefined,
        };
        if (!await store.write(running, revision)) continue; // changed meanwhile: look again
        message.ack();
        return {
          job: {
            id: entry.id,
            name: entry.name,
            args: JSON.parse(entry.args),
            tryNumber: running.tries,
            maxTries: entry.maxTries,
            timeout: entry.timeout,
            enqueuedAt: entry.enqueuedAt,
            token,
          },
        };
      }
    }
    return { job: undefined, nextDueInMs: this.#putBack.nextDueInMs() };
  }

  /** {@inheritDoc JobBackend.openWorkSignal} */
  async openWorkSignal(): Promise<WorkSignal> {
    const store = await this.#open();
    const signal = wakeSignal(this.#link.connection, `${store.base}.wake`, () => {
      this.#signals.delete(signal.close);
    });
    this.#signals.add(signal.close);
    return signal;
  }

  /** {@inheritDoc JobBackend.renew} */
  async renew(leases: readonly Lease[], leaseMs: number): Promise<Lease[]> {
    const store = await this.#open();
    const lost: Lease[] = [];
    await Promise.all(leases.map(async (lease) => {
      let owned = false;
      await store.mutate(lease.id, (entry) => {
        owned = entry?.state === "running" && entry.token === lease.token;
        return owned ? { ...entry!, leaseUntil: clock.now() + leaseMs } : undefined;
      });
      if (!owned) lost.push(lease);
    }));
    return lost;
  }

  /** Runs `change` on a job running under `token`; false when it is not. */
  async #owned(
    id: string,
    token: string,
    change: (entry: JobEntry) => JobEntry,
  ): Promise<JobEntry | undefined> {
    const store = await this.#open();
    return await store.mutate(
      id,
      (entry) => entry?.state === "running" && entry.token === token ? change(entry) : undefined,
    );
  }

  async #finish(
    id: string,
    token: string,
    fields: Pick<JobEntry, "state" | "result" | "error">,
  ): Promise<boolean> {
    const written = await this.#owned(id, token, (entry) => ({
      ...entry,
      ...fields,
      token: undefined,
      leaseUntil: undefined,
      expiresAt: clock.now() + this.#keepResultMs,
    }));
    if (!written) return false;
    const store = await this.#open();
    await store.unmarkRunning(id);
    store.done(id);
    return true;
  }

  /** {@inheritDoc JobBackend.complete} */
  complete(id: string, token: string, result: JsonValue): Promise<boolean> {
    return this.#finish(id, token, { state: "completed", result: JSON.stringify(result) });
  }

  /** {@inheritDoc JobBackend.fail} */
  fail(id: string, token: string, error: string): Promise<boolean> {
    return this.#finish(id, token, { state: "failed", error });
  }

  /** Back to ready (or delayed) under a new ticket, if `accept` holds for the entry. */
  async #requeue(
    id: string,
    accept: (entry: JobEntry) => boolean,
    fields: (entry: JobEntry) => Partial<JobEntry>,
  ): Promise<boolean> {
    const store = await this.#open();
    const ticket = newJobId();
    const { entry } = await store.read(id);
    if (!entry || !accept(entry)) return false;
    // The message first, as in enqueue: if the entry is not requeued after all, the message is
    // stale and claims drop it; if it is, no requeued job is ever left without a message.
    await store.publishReady(id, ticket);
    const written = await store.mutate(id, (e) => {
      if (!e || !accept(e)) return undefined;
      return { ...e, ...fields(e), token: undefined, leaseUntil: undefined, ticket };
    });
    if (!written) return false;
    await store.unmarkRunning(id);
    store.wake();
    return true;
  }

  /** {@inheritDoc JobBackend.retry} */
  retry(id: string, token: string, error: string, delayMs: number): Promise<boolean> {
    const delay = Math.max(0, delayMs);
    return this.#requeue(
      id,
      (e) => e.state === "running" && e.token === token,
      () => ({ state: delay > 0 ? "delayed" : "queued", runAt: clock.now() + delay, error }),
    );
  }

  /** {@inheritDoc JobBackend.release} */
  release(id: string, token: string): Promise<boolean> {
    return this.#requeue(
      id,
      (e) => e.state === "running" && e.token === token,
      (e) => ({ state: "queued", runAt: clock.now(), tries: Math.max(0, e.tries - 1) }),
    );
  }

  /** {@inheritDoc JobBackend.reap} */
  async reap(): Promise<number> {
    const store = await this.#open();
    let n = 0;
    for (const id of await store.runningIds()) {
      const { entry } = await store.read(id);
      if (!entry || entry.state !== "running") {
        await store.unmarkRunning(id); // a stale mark
        continue;
      }
      if ((entry.leaseUntil ?? 0) > clock.now()) continue;
      const token = entry.token!;
      const expired = (e: JobEntry) =>
        e.state === "running" && e.token === token && (e.leaseUntil ?? 0) <= clock.now();
      if (entry.tries >= entry.maxTries) {
        const failed = await store.mutate(id, (e) =>
          e && expired(e)
            ? {
              ...e,
              state: "failed",
              error: `Lease expired (worker lost) on try ${e.tries}`,
              token: undefined,
              leaseUntil: undefined,
              expiresAt: clock.now() + this.#keepResultMs,
            }
            : undefined);
        if (failed) {
          n++;
          await store.unmarkRunning(id);
          store.done(id);
        }
      } else if (
        await this.#requeue(id, expired, () => ({ state: "queued", runAt: clock.now() }))
      ) {
        n++;
      }
    }
    return n;
  }

  // ---- handles and results -------------------------------------------------------------------

  #handle(id: string, name: string): JobHandle {
    return {
      id,
      name,
      status: () => this.#status(id),
      result: <T>(options?: ResultOptions) => this.#result(id, options) as Promise<T>,
    };
  }

  async #status(id: string): Promise<JobStatus> {
    const entry = await this.#read(id);
    if (!entry) return "not_found";
    if (entry.state === "delayed" && entry.runAt <= clock.now()) return "queued";
    return entry.state;
  }

  async #result(id: string, options: ResultOptions = {}): Promise<unknown> {
    const entry = await this.#read(id);
    if (!entry) throw new UnknownJobError(id);
    if (isFinished(entry.state)) return settle(entry);
    if (this.#closed) throw new ClosedError("The job queue is closed");
    const store = await this.#open();
    return await this.#results.wait(id, {
      subject: `${store.base}.done.${keyOf(id)}`,
      connection: this.#link.connection,
      confirm: () => this.#link.confirm("result()"),
      read: () => this.#read(id),
      timeoutMs: options.timeout,
    });
  }
}

/**
 * Where {@linkcode NatsJobQueue} keeps its jobs on JetStream ({@linkcode JobStore}):
 *
 * - a KV bucket `SB_<prefix>_<queue>` holds one entry per job (key `j.<id as base64url>`), the
 *   source of truth; every state change is a compare-and-set on the entry's revision, so two
 *   workers never both win a transition. A key `r.<id>` marks each running job (written before
 *   the job becomes running), so the reaper lists running jobs without reading every job;
 * - a work-queue stream `SB_<prefix>_<queue>_READY` (subject `<prefix>.jobs.<queue>.ready`) with
 *   one durable pull consumer carries `{id, ticket}` each time a job becomes ready or delayed; a
 *   claim takes the next message (no wait; `job_pull.ts`), and the entry's `ticket` tells a current message from
 *   a stale one. A delayed job's message is put back with JetStream's NAK delay until due;
 * - core subjects `<prefix>.jobs.<queue>.wake` (work may be ready) and `….done.<id>` (a job
 *   finished: `result()` waiters re-read the entry).
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { JobQueueUnavailableError } from "../../src/jobs/contract.ts";
import { type ReadyMessage, ReadyPuller } from "./job_pull.ts";

/** A job's entry. */
export interface JobEntry {
  /** Job id. */
  id: string;
  /** Function name. */
  name: string;
  /** Arguments as JSON text. */
  args: string;
  /** Where the job is. */
  state: "queued" | "delayed" | "running" | "completed" | "failed";
  /** Enqueue time, epoch ms. */
  enqueuedAt: number;
  /** Due time, epoch ms. */
  runAt: number;
  /** Starts so far. */
  tries: number;
  /** Allowed starts. */
  maxTries: number;
  /** Per-try timeout, ms. */
  timeout?: number;
  /** The ready message that is current (queued or delayed jobs). */
  ticket?: string;
  /** The lease token (running jobs). */
  token?: string;
  /** Lease end, epoch ms (running jobs). */
  leaseUntil?: number;
  /** Result as JSON text (completed). */
  result?: string;
  /** Last error. */
  error?: string;
  /** When a finished job's result is forgotten, epoch ms. */
  expiresAt?: number;
}

const QUEUE_RE = /^[A-Za-z0-9_-]{1,64}$/;
const encoder = new TextEncoder();

/** The base64url form of a job id (a KV key token). */
export function keyOf(id: string): string {
  let bin = "";
  for (const b of encoder.encode(id)) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/** Wraps a failure of NATS in {@linkcode JobQueueUnavailableError}. */
export function unavailableJobs(what: string, error: unknown): Error {
  if (error instanceof JobQueueUnavailableError) return error;
  return new JobQueueUnavailableError(
    `${what} failed: NATS is unavailable (${(error as Error)?.message ?? error})`,
    { cause: error },
  );
}

/**
 * The stream, consumer or bucket may be gone (a server restarted without its store): said so, or
 * a request nobody answered (a direct get of a bucket that is gone times out). Making them again
 * is idempotent, so a timeout of a paused server costs only a few extra requests.
 */
function isMissing(error: unknown): boolean {
  const text = `${(error as Error)?.name ?? ""} ${(error as Error)?.message ?? error}`;
  return /not found|no responders|timeout|10059|10014|503/i.test(text);
}

function isConflict(error: unknown): boolean {
  const text = String((error as Error)?.message ?? error);
  return /wrong last sequence|10071|key exists/i.test(text);
}

/** The job queue's stream, consumer and bucket on one connection. */
export class JobStore {
  /** Subject prefix of this queue (`<prefix>.jobs.<queue>`). */
  readonly base: string;
  readonly #nc: NatsConnection;
  #kv!: KV;
  readonly #name: string;
  readonly #stream: string;
  readonly #timeoutMs: number;
  readonly #puller: ReadyPuller;
  /** A call found the stream, consumer or bucket gone: the next call makes them again. */
  #lost = false;
  /** The set-up running now, shared by every call that finds the store lost meanwhile. */
  #provisioning: Promise<void> | undefined;

  private constructor(nc: NatsConnection, name: string, base: string, ms: number) {
    this.#nc = nc;
    this.#name = name;
    this.base = base;
    this.#stream = `${name}_READY`;
    this.#timeoutMs = ms;
    this.#puller = new ReadyPuller(nc, this.#stream, "workers", ms);
  }

  /** Throws a TypeError unless `queue` is a valid queue name. */
  static assertQueueName(queue: string): void {
    if (typeof queue !== "string" || !QUEUE_RE.test(queue)) {
      throw new TypeError(
        `queue must be 1-64 ASCII letters, digits, '-' or '_'; got ${JSON.stringify(queue)}`,
      );
    }
  }

  /** Makes (or binds to) the stream, its consumer and the bucket. */
  static async open(
    nc: NatsConnection,
    prefix: string,
    queue: string,
    timeoutMs: number,
  ): Promise<JobStore> {
    const name = `SB_${prefix.replaceAll(".", "_")}_${queue}`;
    const store = new JobStore(nc, name, `${prefix}.jobs.${queue}`, timeoutMs);
    await store.#provision();
    return store;
  }

  async #provision(): Promise<void> {
    try {
      const jsm = await jetstreamManager(this.#nc, { timeout: this.#timeoutMs });
      const exists = await jsm.streams.info(this.#stream).then(() => true, (error) => {
        if (/stream not found|10059/i.test(String(error?.message ?? error))) return false;
        throw error;
      });
      if (!exists) {
        await jsm.streams.add({
          name: this.#stream,
          subjects: [`${this.base}.ready`],
          retention: RetentionPolicy.Workqueue,
          storage: StorageType.File,
        });
      }
      await jsm.consumers.add(this.#stream, {
        durable_name: "workers",
        ack_policy: AckPolicy.Explicit,
        ack_wait: 30_000_000_000, // a claim that died between taking and acking: back in 30 s
        max_ack_pending: -1, // delayed jobs wait as un-acked messages
        max_deliver: -1,
      });
      const js = jetstream(this.#nc, { timeout: this.#timeoutMs });
      this.#kv = await new Kvm(js).create(this.#name, { history: 1 });
      this.#lost = false;
    } catch (error) {
      throw unavailableJobs("opening the job queue", error);
    }
  }

  /**
   * The connection came back: the server may have restarted without its store, and a read of a
   * bucket that is gone is not answered (it times out), so the next call checks the stream,
   * consumer and bucket first, making again what is gone.
   */
  reconnected(): void {
    this.#lost = true;
  }

  /** Runs `op`; a stream, consumer or bucket found gone is made again on the next call. */
  async #run<T>(what: string, op: () => Promise<T>): Promise<T> {
    if (this.#lost) {
      await (this.#provisioning ??= this.#provision().finally(() =>
        this.#provisioning = undefined
      ));
    }
    try {
      return await op();
    } catch (error) {
      if (isMissing(error)) this.#lost = true;
      throw unavailableJobs(what, error);
    }
  }

  /** The entry of `id` with its revision (revision 0 when there is none). */
  read(id: string): Promise<{ entry: JobEntry | undefined; revision: number }> {
    return this.#run(`reading job ${id}`, async () => {
      const got = await this.#kv.get(`j.${keyOf(id)}`);
      if (!got) return { entry: undefined, revision: 0 };
      if (got.operation !== "PUT") return { entry: undefined, revision: got.revision };
      return { entry: JSON.parse(got.string()) as JobEntry, revision: got.revision };
    });
  }

  /**
   * Writes `entry` if the stored revision is still `revision` (0: no entry yet); false when
   * another writer got there first.
   */
  async write(entry: JobEntry, revision: number): Promise<boolean> {
    const key = `j.${keyOf(entry.id)}`;
    const data = JSON.stringify(entry);
    return await this.#run(`writing job ${entry.id}`, async () => {
      try {
        if (revision === 0) await this.#kv.create(key, data);
        else await this.#kv.update(key, data, revision);
        return true;
      } catch (error) {
        if (isConflict(error)) return false;
        throw error;
      }
    });
  }

  /**
   * Applies `change` to the entry of `id` atomically (re-reading on a conflict). `change`
   * returns the new entry, or undefined to leave it; resolves with what was written.
   */
  async mutate(
    id: string,
    change: (entry: JobEntry | undefined) => JobEntry | undefined,
  ): Promise<JobEntry | undefined> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const { entry, revision } = await this.read(id);
      const next = change(entry);
      if (!next) return undefined;
      if (await this.write(next, revision)) return next;
    }
    throw new JobQueueUnavailableError(`job ${id}: too many concurrent updates`);
  }

  /** Deletes the entry of `id` (a result that expired). */
  async forget(id: string): Promise<void> {
    await this.#kv.delete(`j.${keyOf(id)}`).catch(() => {});
  }

  /** Marks `id` as running (before it becomes running, so the reaper always finds it). */
  async markRunning(id: string): Promise<void> {
    await this.#run(`claiming job ${id}`, () => this.#kv.put(`r.${keyOf(id)}`, id));
  }

  /** Removes the running mark of `id` (best effort: the reaper removes stale marks). */
  async unmarkRunning(id: string): Promise<void> {
    await this.#kv.delete(`r.${keyOf(id)}`).catch(() => {});
  }

  /** The ids marked running. */
  runningIds(): Promise<string[]> {
    return this.#run("listing running jobs", async () => {
      const ids: string[] = [];
      for await (const key of await this.#kv.keys("r.>")) {
        const got = await this.#kv.get(key);
        if (got?.operation === "PUT") ids.push(got.string());
      }
      return ids;
    });
  }

  /**
   * How many jobs wait and run, read from the stream's consumer and the running marks: ready
   * messages not yet taken count as queued, messages put back until due as delayed. So a job
   * enqueued with a delay counts as queued until a worker first sees it and puts it back, and a
   * message that went stale (its job changed) counts until a worker drops it.
   */
  depth(): Promise<{ queued: number; delayed: number; running: number }> {
    return this.#run("reading the queue depth", async () => {
      const jsm = await jetstreamManager(this.#nc, { timeout: this.#timeoutMs });
      const info = await jsm.consumers.info(this.#stream, "workers");
      let running = 0;
      for await (const _ of await this.#kv.keys("r.>")) running++;
      return { queued: info.num_pending, delayed: info.num_ack_pending, running };
    });
  }

  /** Publishes a ready message (stored by JetStream before this resolves). */
  async publishReady(id: string, ticket: string): Promise<void> {
    await this.#run(`queueing job ${id}`, async () => {
      const js = jetstream(this.#nc, { timeout: this.#timeoutMs });
      await js.publish(`${this.base}.ready`, JSON.stringify({ id, ticket }));
    });
  }

  /**
   * Takes the next ready message without waiting; undefined when there is none now (see
   * `job_pull.ts`: a pull the server parks answers "none" after a short while).
   */
  takeReady(): Promise<ReadyMessage | undefined> {
    return this.#run("claiming a job", () => this.#puller.take());
  }

  /** Ends the pull in flight (the queue closes). */
  close(): void {
    this.#puller.close();
  }

  /** Tells workers that work may be ready. */
  wake(): void {
    if (!this.#nc.isClosed()) this.#nc.publish(`${this.base}.wake`);
  }

  /** Tells `result()` waiters that `id` finished. */
  done(id: string): void {
    if (!this.#nc.isClosed()) this.#nc.publish(`${this.base}.done.${keyOf(id)}`);
  }
}

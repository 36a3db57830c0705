/**
 * Group histories of the NATS layer on JetStream (src/layers/history.ts).
 *
 * - One stream per layer prefix `p`: `SB_HIST_<p>` (periods written `_`), subjects `p.h.>`, a
 *   group `g` on `p.h.<g>` (periods of the name written `~`, as in subjects.ts). Each message has
 *   headers `Sb-Offset` and `Sb-Epoch`, the serialized message as data.
 * - Offsets: an append reads the subject's last message (offset `n`, stream sequence `s`) and
 *   publishes offset `n + 1` with `Nats-Expected-Last-Subject-Sequence: s`; a concurrent append
 *   that got there first makes JetStream refuse it (wrong last sequence), and it tries again. So
 *   the offsets of a group grow by one per message across processes. One process appends to a
 *   group one message at a time (fewer conflicts, and its live publishes go out in offset order),
 *   and remembers the last message it appended: the next append expects it without reading it.
 * - Epoch: the `Sb-Epoch` of the subject's last message. A subject without messages (the stream
 *   was deleted, a server restarted without its store, a day without appends) gets a new epoch:
 *   a read then stores a marker (offset 0, empty data) so that the epoch it answered with is the
 *   one the next append continues.
 * - Bounds: the stream keeps `size + 1` messages per subject (`max_msgs_per_subject`, raised when
 *   a call asks for more) for at least a day (`max_age`, or `ttlMs` when longer); a read checks
 *   `size` and `ttlMs` exactly, as the Redis histories do.
 * - Live delivery: after the append, the layer publishes the message on the group's core subject
 *   with `#<offset> <epoch>` on its target line (two steps: members may hear several senders out
 *   of offset order; connections put them back in order from the history).
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { headers } from "@nats-io/transport-node";
import {
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  type JetStreamManager,
  jetstreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { checkHistoryOptions } from "../../src/layers/history.ts";
import type {
  HistoryEntry,
  HistoryLossReason,
  HistoryOptions,
  HistoryRead,
  HistoryReadOptions,
  StreamPosition,
} from "../../src/layers/history.ts";
import { assertGroupName, LayerUnavailableError, randomToken } from "../../src/layers/kit.ts";
import type { MessageSerializer } from "../../src/layers/kit.ts";
import { subjectToken } from "./subjects.ts";

/** The shortest time a stream keeps a message (and so a group's epoch after its last append). */
const MIN_AGE_MS = 86_400_000;
/** Most groups whose last message this process remembers (the oldest are forgotten). */
const MAX_REMEMBERED = 10_000;
/** Most attempts of one append that lost the race to other appenders. */
const MAX_ATTEMPTS = 200;
const OFFSET = "Sb-Offset";
const EPOCH = "Sb-Epoch";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the histories need of their layer. */
export interface NatsHistoryContext {
  /** The subject prefix. */
  readonly prefix: string;
  /** The layer's serializer. */
  readonly serializer: MessageSerializer;
  /** The ready publishing connection (throws `LayerUnavailableError`). */
  connection(what: string): Promise<NatsConnection>;
  /** How long a JetStream request may take, in ms. */
  readonly timeoutMs: number;
}

/** The last message of a subject: its stream sequence and position. */
interface Last {
  seq: number;
  offset: number;
  epoch: string;
}

function text(error: unknown): string {
  return `${(error as Error)?.name ?? ""} ${(error as Error)?.message ?? error}`;
}

function isConflict(error: unknown): boolean {
  return /wrong last sequence|10071/i.test(text(error));
}

function isNoMessage(error: unknown): boolean {
  return /no message found|10037/i.test(text(error));
}

function isStreamMissing(error: unknown): boolean {
  return /stream not found|10059|no responders|503|jetstream is not enabled/i.test(text(error));
}

function unavailable(what: string, error: unknown): Error {
  if (error instanceof LayerUnavailableError) return error;
  return new LayerUnavailableError(
    `${what} failed: NATS JetStream is unavailable (${(error as Error)?.message ?? error})`,
    { cause: error },
  );
}

/** The histories of one NATS layer. */
export class NatsHistories {
  readonly #ctx: NatsHistoryContext;
  readonly #stream: string;
  /** Limits the stream is known to have (undefined: look again). */
  #known?: { perSubject: number; maxAgeMs: number };
  /**
   * The last message this process appended per subject: the next append expects it without
   * reading it first (one round trip); JetStream refuses it when another process appended since,
   * and the append reads the subject then.
   */
  readonly #lastOf = new Map<string, Last>();
  /** Appends in flight, per group (one at a time per group in this process). */
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(ctx: NatsHistoryContext) {
    this.#ctx = ctx;
    this.#stream = `SB_HIST_${ctx.prefix.replaceAll(".", "_")}`;
  }

  /** The JetStream subject of `group`'s history. */
  subject(group: string): string {
    return `${this.#ctx.prefix}.h.${subjectToken(group)}`;
  }

  /** Makes the stream, or raises its limits to what `options` need. */
  async #ensure(jsm: JetStreamManager, options: HistoryOptions): Promise<void> {
    const perSubject = options.size + 1;
    const maxAgeMs = Math.max(MIN_AGE_MS, Math.ceil(options.ttlMs));
    const known = this.#known;
    if (known && known.perSubject >= perSubject && known.maxAgeMs >= maxAgeMs) return;
    for (let attempt = 0;; attempt++) {
      let config: StreamConfig | undefined;
      try {
        config = (await jsm.streams.info(this.#stream)).config;
      } catch (error) {
        if (!/not found|10059/i.test(text(error))) throw error;
      }
      try {
        if (!config) {
          await jsm.streams.add({
            name: this.#stream,
            subjects: [`${this.#ctx.prefix}.h.>`],
            max_msgs_per_subject: perSubject,
            max_age: maxAgeMs * 1_000_000,
            discard: DiscardPolicy.Old,
          });
          this.#known = { perSubject, maxAgeMs };
          return;
        }
        const have = { perSubject: config.max_msgs_per_subject, maxAgeMs: config.max_age / 1e6 };
        if (have.perSubject < perSubject || have.maxAgeMs < maxAgeMs) {
          have.perSubject = Math.max(have.perSubject, perSubject);
          have.maxAgeMs = Math.max(have.maxAgeMs, maxAgeMs);
          await jsm.streams.update(this.#stream, {
            max_msgs_per_subject: have.perSubject,
            max_age: have.maxAgeMs * 1_000_000,
          });
        }
        this.#known = have;
        return;
      } catch (error) {
        // Another process made or changed the stream meanwhile: look again.
        if (attempt >= 5) throw error;
      }
    }
  }

  async #last(jsm: JetStreamManager, subject: string): Promise<Last | undefined> {
    try {
      const m = await jsm.streams.getMessage(this.#stream, { last_by_subj: subject });
      if (!m) return undefined;
      return {
        seq: m.seq,
        offset: Number(m.header.get(OFFSET)),
        epoch: m.header.get(EPOCH),
      };
    } catch (error) {
      if (isNoMessage(error)) return undefined;
      throw error;
    }
  }

  /** Publishes `data` at `offset`/`epoch` if the subject's last message is still `after`. */
  async #put(
    nc: NatsConnection,
    subject: string,
    after: Last | undefined,
    offset: number,
    epoch: string,
    data: Uint8Array,
  ): Promise<number | undefined> {
    const h = headers();
    h.set(OFFSET, String(offset));
    h.set(EPOCH, epoch);
    const js = jetstream(nc, { timeout: this.#ctx.timeoutMs });
    try {
      const ack = await js.publish(subject, data, {
        headers: h,
        expect: { lastSubjectSequence: after?.seq ?? 0 },
      });
      return ack.seq;
    } catch (error) {
      if (isConflict(error)) return undefined;
      if (isStreamMissing(error)) this.#known = undefined;
      throw error;
    }
  }

  /** Runs `step` with the manager, once more after the stream was found missing. */
  async #withStream<T>(
    what: string,
    options: HistoryOptions,
    step: (nc: NatsConnection, jsm: JetStreamManager) => Promise<T>,
  ): Promise<T> {
    const nc = await this.#ctx.connection(what);
    try {
      const jsm = await jetstreamManager(nc, { timeout: this.#ctx.timeoutMs });
      await this.#ensure(jsm, options);
      try {
        return await step(nc, jsm);
      } catch (error) {
        if (!isStreamMissing(error)) throw error;
        this.#known = undefined;
        this.#lastOf.clear();
        await this.#ensure(jsm, options); // the stream was gone: made again, new epochs
        return await step(nc, jsm);
      }
    } catch (error) {
      throw unavailable(what, error);
    }
  }

  /** Appends `body` (a serialized message) to `group`'s history; resolves with its position. */
  append(group: string, body: string, options: HistoryOptions): Promise<StreamPosition> {
    assertGroupName(group);
    checkHistoryOptions(options);
    const previous = this.#chains.get(group) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(() => this.#append(group, body, options));
    this.#chains.set(group, run);
    const forget = () => {
      if (this.#chains.get(group) === run) this.#chains.delete(group);
    };
    run.then(forget, forget);
    return run;
  }

  async #append(group: string, body: string, options: HistoryOptions): Promise<StreamPosition> {
    const data = encoder.encode(body);
    const subject = this.subject(group);
    const what = `appendAndSend to ${group}`;
    return await this.#withStream(what, options, async (nc, jsm) => {
      let last = this.#lastOf.get(subject);
      this.#lastOf.delete(subject);
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (attempt > 0 || !last) last = await this.#last(jsm, subject);
        const position = { offset: (last?.offset ?? 0) + 1, epoch: last?.epoch ?? randomToken(16) };
        const seq = await this.#put(nc, subject, last, position.offset, position.epoch, data);
        if (seq !== undefined) {
          this.#lastOf.set(subject, { seq, ...position });
          if (this.#lastOf.size > MAX_REMEMBERED) {
            this.#lastOf.delete(this.#lastOf.keys().next().value!);
          }
          return position;
        }
      }
      throw new LayerUnavailableError(`${what} failed: ${MAX_ATTEMPTS} appends raced it`);
    });
  }

  /** What followed `since` in `group`'s history (see `HistoryCapability.readSince`). */
  read(
    group: string,
    since: StreamPosition | undefined,
    options: HistoryReadOptions,
  ): Promise<HistoryRead> {
    assertGroupName(group);
    checkHistoryOptions(options);
    const subject = this.subject(group);
    return this.#withStream(`readSince on ${group}`, options, async (nc, jsm) => {
      let last = await this.#last(jsm, subject);
      for (let attempt = 0; !last && attempt < MAX_ATTEMPTS; attempt++) {
        // No history yet (or lost): a marker keeps the new epoch for the next append.
        const epoch = randomToken(16);
        const made = await this.#put(nc, subject, undefined, 0, epoch, new Uint8Array());
        last = await this.#last(jsm, subject);
        if (made !== undefined && !last) {
          throw new Error("the marker of a new epoch was not stored");
        }
      }
      if (!last) throw new Error(`${MAX_ATTEMPTS} appends raced a read`);
      const position = { offset: last.offset, epoch: last.epoch };
      const lost = (reason: HistoryLossReason): HistoryRead => ({
        recovered: false,
        reason,
        position,
      });
      if (!since) return { recovered: true, messages: [], position };
      if (since.epoch !== last.epoch) return lost("epoch_changed");
      if (since.offset > last.offset) return lost("position_ahead");
      const missed = last.offset - since.offset;
      if (missed === 0) return { recovered: true, messages: [], position };
      if (missed > options.size) return lost("trimmed");
      if (missed > (options.limit ?? options.size)) return lost("too_many");
      return await this.#readAfter(nc, subject, since.offset, last, options, position);
    });
  }

  /** Reads the subject's messages after offset `since` up to `last`. */
  async #readAfter(
    nc: NatsConnection,
    subject: string,
    since: number,
    last: Last,
    options: HistoryReadOptions,
    position: StreamPosition,
  ): Promise<HistoryRead> {
    const js = jetstream(nc, { timeout: this.#ctx.timeoutMs });
    const consumer = await js.consumers.get(this.#stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.All,
    });
    const bodies: Array<{ offset: number; data: string; ms: number }> = [];
    try {
      const batch = await consumer.fetch({
        max_messages: (this.#known?.perSubject ?? options.size + 1) + 1,
        expires: this.#ctx.timeoutMs,
      });
      for await (const m of batch) {
        const offset = Number(m.headers?.get(OFFSET));
        if (m.headers?.get(EPOCH) === last.epoch && offset > since) {
          bodies.push({ offset, data: decoder.decode(m.data), ms: m.info.timestampNanos / 1e6 });
        }
        if (m.seq >= last.seq) break;
      }
    } finally {
      await consumer.delete().catch(() => {});
    }
    const first = bodies[0];
    if (!first || first.offset !== since + 1 || bodies.length !== last.offset - since) {
      return { recovered: false, reason: "too_old", position };
    }
    if (first.ms < Date.now() - options.ttlMs) {
      return { recovered: false, reason: "too_old", position };
    }
    const messages: HistoryEntry[] = [];
    for (const b of bodies) {
      messages.push({ offset: b.offset, message: await this.#ctx.serializer.decode(b.data) });
    }
    return { recovered: true, messages, position };
  }
}

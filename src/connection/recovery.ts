/**
 * History streams of one connection (consumers and topics with `static history`): every group
 * message of such a stream reaches the client at most once per position and in offset order,
 * a gap (a message lost on the way, one that overtook another, an outage of the layer) is filled
 * from the history, and a client that reconnects with its last positions gets what it missed
 * before any live message of that stream.
 *
 * Per stream it keeps the epoch and the last offset delivered. A stream opens before its group
 * is joined (live messages are dropped until it starts: the history read that follows the join
 * holds them), and starts on the layer queue once joined: from the client's position when it
 * sent one (replay, then a `history_recovery` frame), else from the newest position read
 * before the join (a `history_position` frame, then what followed). A start that could not be
 * read is told as `unavailable` at the first message or resync. The wire is in docs/recovery.md.
 *
 * @module
 */
import type { Consumer, ConsumerClass } from "../consumer/consumer.ts";
import { LayerUnavailableError } from "../errors.ts";
import {
  type HistoryLayer,
  type HistoryLossReason,
  type HistoryOptions,
  type HistoryRead,
  historyStamp,
  isStreamPosition,
  type StreamPosition,
  supportsHistory,
} from "../layers/history.ts";
import type { ChannelLayer, LayerMessage } from "../layers/layer.ts";
import { RESYNC_MESSAGE_TYPE } from "../layers/messages.ts";
import { getLogger } from "../logger.ts";
import type { Envelope } from "../protocol/envelope.ts";
import { reasonFrame } from "../protocol/error_frames.ts";
import type { AnyMessage } from "../protocol/message.ts";

/** The query parameter a reconnecting client puts its last positions in. */
export const RECOVER_PARAM = "recover";
/** The longest `recover` parameter accepted (characters). */
export const MAX_RECOVER_LENGTH = 8192;
/** The most streams one `recover` parameter may name. */
export const MAX_RECOVER_STREAMS = 100;
/** The most messages one replay (or gap fill) of one stream sends. */
export const MAX_REPLAY = 10_000;
/**
 * How long a gap fill keeps retrying a history read that found the layer unavailable (a Redis
 * Cluster failover in progress: the subscription is back before the promoted replica serves the
 * slot), in ms, before it reports `unavailable`.
 */
export const FILL_RETRY_MS = 5_000;
/** The action of the frame that tells the outcome of a recovery (and of a gap that stays). */
export const RECOVERY_ACTION = "history_recovery";
/** The action of the frame that tells where a stream starts (a join without a position). */
export const POSITION_ACTION = "history_position";
/** The error reason of a `recover` parameter that cannot be read. */
export const INVALID_RECOVER = "invalid_recover";

/** The positions a client sent: by consumer group, and by topic. */
export interface RecoverRequest {
  groups: Map<string, StreamPosition>;
  topics: Map<string, StreamPosition>;
}

/**
 * Reads the `recover` query parameter: `{"groups": {name: {offset, epoch}}, "topics": {...}}`.
 * Undefined without one; a string (the problem) when it is malformed or over the bounds.
 */
export function parseRecoverParam(url: string): RecoverRequest | undefined | string {
  let raw: string | null;
  try {
    raw = new URL(url).searchParams.get(RECOVER_PARAM);
  } catch {
    return undefined;
  }
  if (raw === null) return undefined;
  if (raw.length > MAX_RECOVER_LENGTH) return `longer than ${MAX_RECOVER_LENGTH} characters`;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return "not JSON";
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return "not an object";
  const request: RecoverRequest = { groups: new Map(), topics: new Map() };
  let count = 0;
  for (const [key, into] of [["groups", request.groups], ["topics", request.topics]] as const) {
    const part = (value as Record<string, unknown>)[key];
    if (part === undefined) continue;
    if (!part || typeof part !== "object" || Array.isArray(part)) return `'${key}' not an object`;
    for (const [name, position] of Object.entries(part)) {
      if (++count > MAX_RECOVER_STREAMS) return `more than ${MAX_RECOVER_STREAMS} streams`;
      if (!isStreamPosition(position)) return `'${key}' holds a position that is not valid`;
      into.set(name, { offset: position.offset, epoch: position.epoch });
    }
  }
  return request;
}

/** True when a consumer class or one of its topics keeps a history. */
export function usesHistory(cls: ConsumerClass): boolean {
  return cls.history !== undefined || cls.topics.some((t) => t.history !== undefined);
}

/** What the streams need of their connection. */
export interface RecoveryHost {
  /** The consumer (`onResync` runs when a gap cannot be filled). */
  readonly consumer: Consumer;
  /** The connection's layer (undefined before it has one). */
  layer(): ChannelLayer | undefined;
  /** Sends a frame to the client. */
  write(frame: AnyMessage, envelope?: Envelope): void;
  /** Dispatches a layer message (`position`: what its frames carry). */
  dispatch(message: LayerMessage, position?: Envelope["position"]): Promise<void>;
  /** Runs `task` on the layer queue, after the layer messages received so far. */
  schedule(task: () => Promise<void>): void;
  /** True when every group and subscription of the connection is a history stream. */
  allStreams(streams: ReadonlySet<string>): boolean;
  /** Told of each recovery a client asked for: `"recovered"`, or the loss reason (metrics). */
  observe?(outcome: string): void;
}

/** What the groups and subscriptions tell the streams (a {@linkcode Recovery}). */
export type StreamHooks = Pick<Recovery, "open" | "joined" | "close">;

/** Where a stream is. */
interface Stream {
  readonly group: string;
  /** The topic of a topic stream (frames carry it); undefined for a consumer group. */
  readonly topic: string | undefined;
  readonly history: HistoryOptions;
  /** `waiting`: not started (messages dropped); `live`: sequenced. */
  status: "waiting" | "live";
  /** Undefined until known (a start whose read failed: the next message sets it). */
  epoch: string | undefined;
  /** The last offset delivered (or the start). */
  last: number;
  /** The client's position to recover from, until the start. */
  request: StreamPosition | undefined;
  /**
   * Without a request: the newest position, read before the group is joined (so a message
   * appended between the join and the start is delivered, not skipped), until the start.
   */
  initial?: Promise<HistoryRead | { error: unknown }>;
}

type Outcome = { recovered: true; replayed: number } | {
  recovered: false;
  reason: HistoryLossReason;
};

/** The history streams of one connection. */
export class Recovery {
  readonly #streams = new Map<string, Stream>();
  readonly #request: RecoverRequest | undefined;

  readonly #problem: string | undefined;

  /** `request`: the client's positions (or the problem with them, answered once open). */
  constructor(readonly host: RecoveryHost, request: RecoverRequest | string | undefined) {
    if (typeof request === "string") this.#problem = request;
    else this.#request = request;
  }

  /**
   * The streams of a connection of `cls` (undefined when neither the class nor a topic of it
   * keeps a history: the connection then behaves exactly as without this module).
   */
  static for(cls: ConsumerClass, url: string, host: RecoveryHost): Recovery | undefined {
    return usesHistory(cls) ? new Recovery(host, parseRecoverParam(url)) : undefined;
  }

  /** The connection is open: a `recover` parameter that could not be read is answered. */
  opened(): void {
    if (this.#problem === undefined) return;
    const detail = `The '${RECOVER_PARAM}' parameter is ${this.#problem}; nothing is recovered`;
    this.host.write(reasonFrame(INVALID_RECOVER, detail));
  }

  /** True when `group` is a stream of this connection. */
  has(group: string): boolean {
    return this.#streams.has(group);
  }

  /**
   * A stream is about to be joined (before `groupAdd`); false when it is open already. `topic`:
   * the topic of a topic stream.
   */
  open(group: string, topic: string | undefined, history: HistoryOptions): boolean {
    if (this.#streams.has(group)) return false;
    const request = topic === undefined
      ? this.#request?.groups.get(group)
      : this.#request?.topics.get(topic);
    if (topic === undefined) this.#request?.groups.delete(group);
    else this.#request?.topics.delete(topic);
    this.#streams.set(group, {
      group,
      topic,
      history,
      status: "waiting",
      epoch: undefined,
      last: 0,
      request,
      initial: request ? undefined : Promise.resolve().then(
        () => this.#layer().readSince(group, undefined, history),
      ).catch((error) => ({ error })),
    });
    return true;
  }

  /** The stream's group is joined: it starts on the layer queue. */
  joined(group: string): void {
    this.host.schedule(() => this.#start(group));
  }

  /** The stream ended (left, unsubscribed, or its join failed). */
  close(group: string): void {
    this.#streams.delete(group);
  }

  /** Handles one layer message (on the layer queue): history streams are sequenced here. */
  async accept(message: LayerMessage): Promise<void> {
    if (message.type === RESYNC_MESSAGE_TYPE && this.#streams.size) {
      return await this.#resync(message);
    }
    const stamp = historyStamp(message);
    const stream = stamp && this.#streams.get(stamp.group);
    if (!stamp || !stream) return await this.host.dispatch(message);
    if (stream.status === "waiting") return; // read back by the start
    if (stream.epoch === undefined) {
      // The start could not be read (the layer was away): what came between the join and this
      // message is unknown, so the client is told, never left with a silent gap.
      stream.epoch = stamp.epoch;
      stream.last = stamp.offset - 1;
      await this.#lost(stream, "unavailable");
    }
    if (stamp.epoch === stream.epoch && stamp.offset <= stream.last) return; // had it
    if (stamp.epoch !== stream.epoch || stamp.offset > stream.last + 1) {
      const outcome = await this.#catchUp(stream);
      if (stamp.epoch === stream.epoch && stamp.offset <= stream.last) return; // filled
      if (!outcome.recovered) { // told: go on from this message
        stream.epoch = stamp.epoch;
        stream.last = stamp.offset - 1;
      }
    }
    stream.last = stamp.offset;
    await this.host.dispatch(message, this.#wire(stream, stamp.offset));
  }

  /** Starts a stream: replays from the client's position, or starts at the newest. */
  async #start(group: string): Promise<void> {
    const stream = this.#streams.get(group);
    if (!stream || stream.status !== "waiting") return;
    stream.status = "live";
    const request = stream.request;
    stream.request = undefined;
    if (request) {
      stream.epoch = request.epoch;
      stream.last = request.offset;
      const outcome = await this.#catchUp(stream);
      if (outcome.recovered) {
        this.host.observe?.("recovered");
        this.#tell(stream, RECOVERY_ACTION, {
          recovered: true,
          replayed: outcome.replayed,
          position: this.#position(stream),
        });
      }
      return;
    }
    const initial = await stream.initial;
    stream.initial = undefined;
    if (initial && !("error" in initial)) {
      // The position from before the join: what was appended since is delivered now.
      stream.epoch = initial.position.epoch;
      stream.last = initial.position.offset;
      this.#tell(stream, POSITION_ACTION, { position: this.#position(stream) });
      await this.#catchUp(stream);
      return;
    }
    try {
      const read = await this.#layer().readSince(group, undefined, stream.history);
      stream.epoch = read.position.epoch;
      stream.last = read.position.offset;
      this.#tell(stream, POSITION_ACTION, { position: this.#position(stream) });
    } catch (error) {
      if (!(error instanceof LayerUnavailableError)) throw error;
      // The first message tells the client where the stream starts.
      getLogger().warn(`history of ${group}: start position unavailable`, { error });
    }
  }

  /**
   * Fills the stream from its history. A loss is told (a `history_recovery` frame and
   * `onResync`); after a new epoch, what the new history holds follows the notice (its start is
   * known: offset 0). The outcome of the first read.
   */
  async #catchUp(stream: Stream): Promise<Outcome> {
    const outcome = await this.#fill(stream);
    if (outcome.recovered) return outcome;
    await this.#lost(stream, outcome.reason);
    if (outcome.reason === "epoch_changed") {
      const again = await this.#fill(stream);
      if (!again.recovered) await this.#lost(stream, again.reason);
    }
    return outcome;
  }

  /** Reads what followed the stream's position and delivers it; the outcome. */
  async #fill(stream: Stream): Promise<Outcome> {
    let read;
    const deadline = Date.now() + FILL_RETRY_MS;
    for (let wait = 50;; wait = Math.min(wait * 2, 500)) {
      try {
        read = await this.#layer().readSince(
          stream.group,
          stream.epoch === undefined ? undefined : { offset: stream.last, epoch: stream.epoch },
          { ...stream.history, limit: Math.min(stream.history.size, MAX_REPLAY) },
        );
        break;
      } catch (error) {
        // Unavailable for a moment (a failover): read again, bounded; closed: stop at once.
        if (
          error instanceof LayerUnavailableError && Date.now() + wait < deadline &&
          this.#streams.has(stream.group)
        ) {
          await new Promise((r) => AbortSignal.timeout(wait).addEventListener("abort", r));
          continue;
        }
        // Unreachable (or closing): the position stays, so a later gap or resync reads again.
        getLogger().warn(`history of ${stream.group}: read failed`, { error });
        return { recovered: false, reason: "unavailable" };
      }
    }
    if (!read.recovered) {
      // A new epoch starts at 0 (#catchUp reads it next); other losses go on from the newest.
      stream.epoch = read.position.epoch;
      stream.last = read.reason === "epoch_changed" ? 0 : read.position.offset;
      return { recovered: false, reason: read.reason };
    }
    let replayed = 0;
    for (const entry of read.messages) {
      if (entry.offset <= stream.last) continue;
      if (!this.#streams.has(stream.group)) break; // closed meanwhile
      stream.last = entry.offset;
      replayed++;
      await this.host.dispatch(entry.message, this.#wire(stream, entry.offset));
    }
    stream.epoch = read.position.epoch;
    return { recovered: true, replayed };
  }

  /** The layer came back after an outage: every live stream is filled from its history. */
  async #resync(message: LayerMessage): Promise<void> {
    let lost = false;
    let unknown = false; // a stream whose start could not be read: no position to fill from
    for (const stream of [...this.#streams.values()]) {
      if (stream.status !== "live") continue;
      if (stream.epoch === undefined) {
        if (await this.#locate(stream)) lost = true;
        else unknown = true;
      } else if (!(await this.#catchUp(stream)).recovered) lost = true;
    }
    // A loss ran onResync already; every group and subscription recovered: nothing to resync.
    if (lost || (!unknown && this.host.allStreams(new Set(this.#streams.keys())))) return;
    await this.host.dispatch(message);
  }

  /**
   * A stream whose start could not be read learns where the history is now; what came before is
   * unknown, so the loss is told (`unavailable`). False when the layer is still away.
   */
  async #locate(stream: Stream): Promise<boolean> {
    try {
      const read = await this.#layer().readSince(stream.group, undefined, stream.history);
      stream.epoch = read.position.epoch;
      stream.last = read.position.offset;
    } catch (error) {
      if (!(error instanceof LayerUnavailableError)) throw error;
      return false;
    }
    await this.#lost(stream, "unavailable");
    return true;
  }

  /** A gap that cannot be filled: the client is told, and `onResync` runs. */
  async #lost(stream: Stream, reason: HistoryLossReason): Promise<void> {
    this.host.observe?.(reason);
    this.#tell(stream, RECOVERY_ACTION, {
      recovered: false,
      reason,
      position: this.#position(stream),
    });
    await this.#onResync(`history: ${reason}`);
  }

  async #onResync(reason: string): Promise<void> {
    try {
      await this.host.consumer.onResync(reason);
    } catch (error) {
      getLogger().error(`${this.host.consumer.constructor.name}.onResync failed`, { error });
    }
  }

  #layer(): HistoryLayer {
    const layer = this.host.layer();
    if (!layer || !supportsHistory(layer)) {
      throw new LayerUnavailableError("the channel layer has no history capability");
    }
    return layer;
  }

  #position(stream: Stream): StreamPosition {
    return { offset: stream.last, epoch: stream.epoch ?? "" };
  }

  /** The `position` envelope of a frame of `stream` at `offset`. */
  #wire(stream: Stream, offset: number): Envelope["position"] {
    return stream.topic === undefined
      ? { group: stream.group, offset, epoch: stream.epoch! }
      : { offset, epoch: stream.epoch! };
  }

  /** Sends a stream's frame: a topic's carries the topic, a group's names its group. */
  #tell(stream: Stream, action: string, payload: Record<string, unknown>): void {
    if (stream.topic === undefined) {
      this.host.write({ action, payload: { group: stream.group, ...payload } });
    } else {
      this.host.write({ action, payload }, { topic: stream.topic });
    }
  }
}

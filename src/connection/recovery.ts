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
 * before the join (a `history_position` frame, then what followed). When that read fails (the
 * layer was away), the start is the newest position this process knew of the group when the
 * stream opened (known_positions.ts: another local stream's); only without one is the client
 * told `unavailable` (a position read after the join could skip what was appended meanwhile).
 * The wire is in docs/recovery.md.
 *
 * @module
 */
import type { Consumer, ConsumerClass } from "../consumer/consumer.ts";
import { LayerUnavailableError } from "../errors.ts";
import {
  type HistoryLayer,
  type HistoryLossReason,
  type HistoryOptions,
  historyStamp,
  supportsHistory,
} from "../layers/history.ts";
import type { ChannelLayer, LayerMessage } from "../layers/layer.ts";
import { RESYNC_MESSAGE_TYPE } from "../layers/messages.ts";
import { getLogger } from "../logger.ts";
import type { Envelope } from "../protocol/envelope.ts";
import { reasonFrame } from "../protocol/error_frames.ts";
import type { AnyMessage } from "../protocol/message.ts";
import { type Outcome, type Stream, streamPosition, wirePosition } from "./history_stream.ts";
import { knownPositions } from "./known_positions.ts";
import {
  INVALID_RECOVER,
  parseRecoverParam,
  RECOVER_PARAM,
  type RecoverRequest,
} from "./recover_param.ts";

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
    const layer = this.host.layer();
    const held = layer && knownPositions(layer).hold(group);
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
      fallback: request ? undefined : held?.position,
      held,
    });
    return true;
  }

  /**
   * The stream's group is joined: it starts on the layer queue. Resolves once the position read
   * before the join has its answer (or failed): the join is acknowledged after that, so a
   * message sent once the client knows it joined always follows that position.
   */
  async joined(group: string): Promise<void> {
    this.host.schedule(() => this.#start(group));
    await this.#streams.get(group)?.initial;
  }

  /** The stream ended (left, unsubscribed, or its join failed). */
  close(group: string): void {
    this.#streams.get(group)?.held?.release();
    this.#streams.delete(group);
  }

  /** The connection is gone: its streams no longer hold their groups' known positions. */
  dispose(): void {
    for (const stream of this.#streams.values()) stream.held?.release();
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
    stream.held?.note(stamp.offset, stamp.epoch);
    await this.host.dispatch(message, wirePosition(stream, stamp.offset));
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
          position: streamPosition(stream),
        });
      }
      return;
    }
    const initial = await stream.initial;
    const fallback = stream.fallback;
    stream.initial = stream.fallback = undefined;
    if (initial && !("error" in initial)) {
      // The position from before the join: what was appended since is delivered now.
      stream.epoch = initial.position.epoch;
      stream.last = initial.position.offset;
      stream.held?.note(stream.last, stream.epoch);
      this.#tell(stream, POSITION_ACTION, { position: streamPosition(stream) });
      await this.#catchUp(stream);
      return;
    }
    if (fallback) {
      // The layer was away at the join. The newest position this process knew when the stream
      // opened (another local stream's) is older than the join: nothing the connection should
      // get is skipped. What followed it is read now, or at the first gap or resync.
      stream.epoch = fallback.epoch;
      stream.last = fallback.offset;
      this.#tell(stream, POSITION_ACTION, { position: streamPosition(stream) });
      await this.#catchUp(stream, true);
      return;
    }
    // No safe start: a position read now, after the join, could skip a message appended
    // meanwhile, so the client is told `unavailable` with it (at the first message or resync
    // when the layer is still away).
    if (!(await this.#locate(stream))) {
      getLogger().warn(`history of ${group}: start position unavailable`);
    }
  }

  /**
   * Fills the stream from its history. A loss is told (a `history_recovery` frame and
   * `onResync`); after a new epoch, what the new history holds follows the notice (its start is
   * known: offset 0). The outcome of the first read. `once`: a single read, not retried.
   */
  async #catchUp(stream: Stream, once = false): Promise<Outcome> {
    const outcome = await this.#fill(stream, once);
    if (outcome.recovered) return outcome;
    // `once`: a layer still away keeps the position, untold, for the next gap or resync.
    if (once && outcome.reason === "unavailable") return outcome;
    await this.#lost(stream, outcome.reason);
    if (outcome.reason === "epoch_changed") {
      const again = await this.#fill(stream);
      if (!again.recovered) await this.#lost(stream, again.reason);
    }
    return outcome;
  }

  /** Reads what followed the stream's position and delivers it; the outcome. */
  async #fill(stream: Stream, once = false): Promise<Outcome> {
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
          error instanceof LayerUnavailableError && !once && Date.now() + wait < deadline &&
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
      stream.held?.note(stream.last, stream.epoch);
      return { recovered: false, reason: read.reason };
    }
    let replayed = 0;
    for (const entry of read.messages) {
      if (entry.offset <= stream.last) continue;
      if (!this.#streams.has(stream.group)) break; // closed meanwhile
      stream.last = entry.offset;
      replayed++;
      await this.host.dispatch(entry.message, wirePosition(stream, entry.offset));
    }
    stream.epoch = read.position.epoch;
    stream.held?.note(stream.last, stream.epoch);
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
      stream.held?.note(stream.last, stream.epoch);
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
      position: streamPosition(stream),
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

  /** Sends a stream's frame: a topic's carries the topic, a group's names its group. */
  #tell(stream: Stream, action: string, payload: Record<string, unknown>): void {
    if (stream.topic === undefined) {
      this.host.write({ action, payload: { group: stream.group, ...payload } });
    } else {
      this.host.write({ action, payload }, { topic: stream.topic });
    }
  }
}

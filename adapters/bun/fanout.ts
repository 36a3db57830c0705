/**
 * Group fan-out with Bun's native topics: a group message is framed once and written by Bun to
 * every subscribed socket (`server.publish`), instead of each member's receive loop writing it.
 * It implements the core's {@linkcode LocalFanout} seam (src/layers/local_fanout.ts), which the
 * layers ask before they fill the members' mailboxes.
 *
 * Each group (per layer) has three Bun topics: its frames in plain keys (`<id>:p`), in camelCase
 * keys (`<id>:c`), and `group_complete` (`<id>:d`). A socket of a consumer class subscribes to the
 * one of its case mode, and to the completion topic when its class sends completions; so one
 * publish per topic gives each member the frame then its completion, in that order, exactly as
 * its loop would write them (the same shared text: src/connection/outbox.ts `sharedFrameText`).
 *
 * A message goes native only when that is the same as the loop for every member, else the loop
 * takes all of it:
 * - every member is open, has no layer message queued or being handled, and its receiver waits on
 *   an empty mailbox (nothing would be overtaken); a socket the layer no longer lists as a member
 *   (its groups flushed, or discarded behind the connection's back) is unsubscribed first;
 * - every member's buffered bytes plus the frame stay within `maxBufferedBytes` (the slow-client
 *   policy and droppable frames then never come into play: a slow member goes through the loop,
 *   which applies them). The members' buffered bytes are read only when the bound of what they
 *   held at the last read plus what the process has written since could be over;
 * - every member's class still has the case mode and completion setting its socket subscribed
 *   with, and does not log every frame;
 * - the excluded sender (`excludeCurrent`) is reached by publishing from its own socket, which
 *   Bun leaves out.
 *
 * @module
 */
import type { GroupMembership, LocalFanout } from "../../src/layers/local_fanout.ts";
import type { LayerMessage } from "../../src/layers/layer.ts";
import { GROUP_TYPE } from "../../src/layers/messages.ts";
import { HISTORY_KEY } from "../../src/layers/history.ts";
import { GROUP_ACTION_COMPLETE } from "../../src/protocol/builtins.ts";
import type { AnyMessage } from "../../src/protocol/message.ts";
import { frameText, sharedFrameText } from "../../src/connection/outbox.ts";
import { getLogger } from "../../src/logger.ts";
import { removalsOf } from "../../src/layers/member_set.ts";
import type { BunServerLike } from "./bun_types.ts";
import type { BunSocket, MembershipSink } from "./socket.ts";

/** The text of `group_complete` (the same in both case modes: its payload is null). */
const COMPLETE_TEXT = frameText({ action: GROUP_ACTION_COMPLETE, payload: null }, false);

/** A group's local native members and its topics. */
class TopicGroup {
  readonly members = new Map<string, { socket: BunSocket; membership: GroupMembership }>();
  readonly plain: string;
  readonly camel: string;
  readonly done: string;
  /**
   * The process's {@linkcode BunFanout.queued} when the members' buffered bytes were last read, and
   * the most any of them had then (see `BunFanout.#bound`). -1: read them at the next message.
   */
  checkedAt = -1;
  maxBuffered = 0;
  /** The smallest `maxBufferedBytes` of the members then. */
  minLimit = 0;
  /** Every member found ready, and under which layer state (see `BunFanout.#kept`). */
  verdict: Verdict | undefined;
  constructor(readonly layer: object, readonly group: string, id: number) {
    this.plain = `sb${id}:p`;
    this.camel = `sb${id}:c`;
    this.done = `sb${id}:d`;
  }
  topicsOf(socket: BunSocket): string[] {
    const topics = [socket.mode.camelCase ? this.camel : this.plain];
    if (socket.mode.completion) topics.push(this.done);
    return topics;
  }
}

/**
 * A group's members all found ready for native delivery (open, quiet, parked, listed by the
 * layer), kept while the layer's `stamp`, its member set and that set's removals stay the same,
 * and the group's own members do not change.
 */
interface Verdict {
  readonly stamp: number;
  readonly members: ReadonlySet<string>;
  readonly removals: number;
  /** The distinct modes of the members (their classes are checked again at each message). */
  readonly modes: readonly BunSocket["mode"][];
  readonly servers: Set<BunServerLike>;
}

/** The texts one message is published with, and from where. */
interface Texts {
  plain?: string;
  camel?: string;
  done: boolean;
  excluded?: BunSocket;
  servers: Set<BunServerLike>;
}

/** True when a class changed the modes its sockets subscribed with, or logs every frame. */
function modeChanged(mode: BunSocket["mode"]): boolean {
  const cls = mode.cls;
  return Boolean(cls.camelCase) !== mode.camelCase ||
    Boolean(cls.sendCompletion) !== mode.completion || Boolean(cls.logMessages);
}

const encoder = new TextEncoder();
/** The largest header of a frame the server sends (RFC 6455: 2 + 8 bytes, unmasked). */
const MAX_HEADER = 10;

/** Counters of what went native and what the loop took (for benches and tests). */
export interface FanoutStats {
  /** Group messages published natively. */
  native: number;
  /** Group messages left to the loop although some member was native (not ready, or slow). */
  declined: number;
}

/** The process's native fan-out over the sockets of every Bun server of the Bun adapter. */
export class BunFanout implements LocalFanout, MembershipSink {
  readonly #layers = new WeakMap<object, Map<string, TopicGroup>>();
  #nextId = 0;
  /** What went native and what did not. */
  readonly stats: FanoutStats = { native: 0, declined: 0 };
  /**
   * An upper bound of the bytes written to any socket of this process since it started (every
   * send and publish counts its text's largest UTF-8 size plus a frame header). A socket's buffered
   * bytes now are at most what they were when read plus what was written since: so a group whose
   * members were read recently enough needs no read per member (a call into Bun that cost more
   * than the rest of the per-member check together).
   */
  queued = 0;

  /** A socket of this process was sent a frame of `length` UTF-16 units. */
  wrote(length: number): void {
    this.queued += length * 3 + MAX_HEADER;
  }

  join(socket: BunSocket, membership: GroupMembership): void {
    if (!socket.mode.native) return;
    let groups = this.#layers.get(membership.layer);
    if (!groups) this.#layers.set(membership.layer, groups = new Map());
    let group = groups.get(membership.group);
    if (!group) {
      groups.set(
        membership.group,
        group = new TopicGroup(membership.layer, membership.group, ++this.#nextId),
      );
    }
    if (group.members.has(membership.channel)) return;
    group.members.set(membership.channel, { socket, membership });
    group.checkedAt = -1; // its buffered bytes are not known yet
    group.verdict = undefined;
    socket.channel = membership.channel;
    (socket.joined ??= new Set()).add(group);
    for (const topic of group.topicsOf(socket)) socket.ws.subscribe(topic);
  }

  leave(socket: BunSocket, layer: object, name: string): void {
    const group = this.#layers.get(layer)?.get(name);
    if (group && socket.joined?.has(group)) this.#remove(socket, group, true);
  }

  forget(socket: BunSocket): void {
    if (!socket.joined) return;
    for (const group of socket.joined) this.#remove(socket, group as TopicGroup, true);
  }

  #remove(socket: BunSocket, group: TopicGroup, unsubscribe: boolean): void {
    group.verdict = undefined;
    socket.joined?.delete(group);
    if (group.members.get(socket.channel)?.socket === socket) group.members.delete(socket.channel);
    if (group.members.size === 0) this.#layers.get(group.layer)?.delete(group.group);
    if (!unsubscribe || socket.ws.readyState > 1) return; // Bun drops a closed socket's topics
    try {
      for (const topic of group.topicsOf(socket)) socket.ws.unsubscribe(topic);
    } catch (error) {
      getLogger().debug("Unsubscribing a closing Bun socket failed", { error });
    }
  }

  deliver(
    layer: object,
    name: string,
    members: ReadonlySet<string>,
    message: LayerMessage,
    parked: (channel: string) => boolean,
    stamp?: number,
  ): { has(channel: string): boolean; readonly size: number } | undefined {
    // A history message carries its position, and each member's recovery dedupes by offset: the loop.
    if (message.type !== GROUP_TYPE || HISTORY_KEY in message) return undefined;
    const group = this.#layers.get(layer)?.get(name);
    if (!group || group.members.size === 0) return undefined;
    try {
      const texts = this.#kept(group, members, message, stamp) ??
        this.#ready(group, members, message, parked, stamp);
      if (!texts) {
        this.stats.declined++;
        return undefined;
      }
      this.#publish(group, texts);
      this.stats.native++;
      return group.members;
    } catch (error) {
      getLogger().debug("Native fan-out declined a group message", { error });
      return undefined;
    }
  }

  /**
   * The texts to publish from the group's kept verdict, without a check per member: undefined
   * when there is none, the layer's state moved on, a class changed its modes, or a member's
   * buffered bytes may be over (then `#ready` checks every member).
   */
  #kept(
    group: TopicGroup,
    members: ReadonlySet<string>,
    message: LayerMessage,
    stamp: number | undefined,
  ): Texts | undefined {
    const v = group.verdict;
    if (
      !v || stamp === undefined || v.stamp !== stamp || v.members !== members ||
      v.removals !== removalsOf(members)
    ) {
      return undefined;
    }
    const frame = message.message as unknown as AnyMessage;
    let plain: string | undefined;
    let camel: string | undefined;
    let done = false;
    for (const mode of v.modes) {
      if (modeChanged(mode)) return undefined;
      if (mode.camelCase) camel ??= sharedFrameText(frame, true);
      else plain ??= sharedFrameText(frame, false);
      done ||= mode.completion;
    }
    const longest = Math.max(plain?.length ?? 0, camel?.length ?? 0);
    if (this.#bound(group) + longest * 3 > group.minLimit) return undefined;
    const exclude = typeof message.exclude === "string" ? message.exclude : undefined;
    const excluded = exclude === undefined ? undefined : group.members.get(exclude)?.socket;
    return { plain, camel, done, excluded, servers: v.servers };
  }

  /**
   * The most any member of `group` can have buffered now: what the last read found plus what the
   * process has written since (`queued`); Infinity when its members were never read.
   */
  #bound(group: TopicGroup): number {
    return group.checkedAt < 0 ? Infinity : group.maxBuffered + this.queued - group.checkedAt;
  }

  /** The texts to publish when every member can take the message natively, else undefined. */
  #ready(
    group: TopicGroup,
    members: ReadonlySet<string>,
    message: LayerMessage,
    parked: (channel: string) => boolean,
    stamp: number | undefined,
  ): Texts | undefined {
    const frame = message.message as unknown as AnyMessage;
    const exclude = typeof message.exclude === "string" ? message.exclude : undefined;
    let plain: string | undefined;
    let camel: string | undefined;
    let plainBytes = -1;
    let camelBytes = -1;
    let done = false;
    let excluded: BunSocket | undefined;
    let server: BunServerLike | undefined;
    let servers: Set<BunServerLike> | undefined;
    // The modes of the last class checked: members of one class are checked once per message.
    let checkedMode: BunSocket["mode"] | undefined;
    const bound = this.#bound(group);
    let readAll = true;
    let excludedReady = true;
    const modes: BunSocket["mode"][] = [];
    let maxBuffered = 0;
    let minLimit = Infinity;
    for (const member of group.members.values()) {
      const socket = member.socket;
      if (socket.closing) return undefined;
      const channel = socket.channel;
      if (!members.has(channel)) {
        // No longer a member for the layer (flushed, or discarded behind the connection's back):
        // it must not be reached, now or later.
        this.#remove(socket, group, true);
        continue;
      }
      if (socket.server !== server) {
        if (server === undefined) server = socket.server;
        else (servers ??= new Set([server])).add(socket.server);
      }
      const ready = member.membership.quiet && parked(channel);
      if (channel === exclude) {
        excluded = socket;
        excludedReady = ready;
        continue;
      }
      if (!ready) return undefined;
      const mode = socket.mode;
      if (mode !== checkedMode) {
        // The class changed its modes since the socket subscribed (a test turning completions on).
        if (modeChanged(mode)) return undefined;
        if (!modes.includes(mode)) modes.push(mode);
        checkedMode = mode;
        done ||= mode.completion;
      }
      let text: string;
      let bytes: number;
      if (mode.camelCase) {
        text = camel ??= sharedFrameText(frame, true);
        bytes = camelBytes;
      } else {
        text = plain ??= sharedFrameText(frame, false);
        bytes = plainBytes;
      }
      if (bound + text.length * 3 <= group.minLimit) {
        readAll = false; // it has room, whatever it holds
        continue;
      }
      const buffered = socket.ws.getBufferedAmount();
      if (buffered > maxBuffered) maxBuffered = buffered;
      if (mode.maxBufferedBytes < minLimit) minLimit = mode.maxBufferedBytes;
      const room = mode.maxBufferedBytes - buffered;
      if (text.length * 3 > room) { // maybe over: the exact UTF-8 size decides
        if (bytes < 0) bytes = encoder.encode(text).byteLength;
        if (mode.camelCase) camelBytes = bytes;
        else plainBytes = bytes;
        if (bytes > room) return undefined;
      }
    }
    if (server === undefined) return undefined; // every native member was pruned
    if (readAll && excluded) {
      // Not sent this message, but a later one reaches it: its bytes count in the group's bound.
      const buffered = excluded.ws.getBufferedAmount();
      if (buffered > maxBuffered) maxBuffered = buffered;
      if (excluded.mode.maxBufferedBytes < minLimit) minLimit = excluded.mode.maxBufferedBytes;
    }
    if (readAll) {
      group.checkedAt = this.queued;
      group.maxBuffered = maxBuffered;
      group.minLimit = minLimit;
    }
    const all = servers ?? new Set([server]);
    const removals = removalsOf(members);
    if (stamp !== undefined && removals !== undefined && excludedReady) {
      if (excluded && !modes.includes(excluded.mode)) modes.push(excluded.mode);
      group.verdict = { stamp, members, removals, modes, servers: all };
    }
    return { plain, camel, done, excluded, servers: all };
  }

  #publish(group: TopicGroup, texts: Texts): void {
    const { excluded } = texts;
    for (const server of texts.servers) {
      // The excluded sender's own socket publishes on its server: Bun leaves it out.
      const from = excluded?.server === server ? excluded.ws : server;
      if (texts.plain !== undefined) from.publish(group.plain, texts.plain);
      if (texts.camel !== undefined) from.publish(group.camel, texts.camel);
      if (texts.done) from.publish(group.done, COMPLETE_TEXT);
    }
    // A member gets one of the two texts, and the completion.
    this.wrote(Math.max(texts.plain?.length ?? 0, texts.camel?.length ?? 0));
    if (texts.done) this.wrote(COMPLETE_TEXT.length);
  }
}

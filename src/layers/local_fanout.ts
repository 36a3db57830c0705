/**
 * The seam through which a runtime fans a group message out natively to the local members of a
 * group (Bun's `server.publish`: the frame is written once for every socket subscribed to a
 * topic). Off by default: with no {@linkcode LocalFanout} installed, or when it declines a
 * message, a layer hands the message to each member's mailbox and each member's receive loop
 * writes it (the loop). A runtime installs one with {@linkcode installLocalFanout} (adapters/bun
 * does when it serves); the layers that deliver group messages to local members (memory, Redis
 * pub/sub, NATS) ask it first with {@linkcode localFanout}.
 *
 * The contract: a fan-out either reaches a member with exactly what that member's receive loop
 * would have sent (the same text, then `group_complete` if the member's class sends completions,
 * nothing to the excluded sender, the slow-client policy untouched) or leaves that member to the
 * loop. Members only become reachable through {@linkcode GroupMembership} (the connection tells
 * its socket when it joined and left a group: `ServerSocket.joinedGroup` / `leftGroup`).
 *
 * @module
 */
import type { LayerMessage } from "./layer.ts";

/** One connection's membership of one group on one layer, as a socket is told of it. */
export interface GroupMembership {
  /** The layer the group lives on (groups of the same name on two layers are distinct). */
  readonly layer: object;
  /** The group. */
  readonly group: string;
  /** The connection's channel on that layer. */
  readonly channel: string;
  /**
   * True when the connection has no layer message queued or being handled: a message written
   * now would not overtake an earlier one.
   */
  readonly quiet: boolean;
}

/** A runtime's native fan-out to the local members of a group. */
export interface LocalFanout {
  /**
   * Delivers `message` (a deep-frozen layer message sent to `group` on `layer`) natively to the
   * local members it can reach with the loop's result. `members`: the layer's local members of
   * the group (a native member that is not among them is never reached: the fan-out then
   * declines). `parked(channel)`: true when the receiver of `channel` waits on an empty mailbox.
   * Answers the channels it reached (the layer hands the message to the other members' mailboxes
   * as usual; none are left when `size` equals the members'), or `undefined` when it reached
   * none. Never throws.
   *
   * `stamp` (optional): a number the layer changes whenever a parked receiver may have stopped
   * waiting or a member may have become busy (`Mailboxes.generation`). While it, the `members`
   * set and that set's removals (`MemberSet`, member_set.ts) stay the same, a fan-out that found
   * every member ready may keep that finding instead of checking each member again.
   */
  deliver(
    layer: object,
    group: string,
    members: ReadonlySet<string>,
    message: LayerMessage,
    parked: (channel: string) => boolean,
    stamp?: number,
  ): { has(channel: string): boolean; readonly size: number } | undefined;
}

let installed: LocalFanout | undefined;

/** Installs the process's native fan-out (`undefined`: none, the loop for every member). */
export function installLocalFanout(fanout: LocalFanout | undefined): void {
  installed = fanout;
}

/** The installed native fan-out, if any. */
export function localFanout(): LocalFanout | undefined {
  return installed;
}

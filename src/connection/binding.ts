/**
 * The consumer's binding to its connection: what `this.request`, `this.params`,
 * `this.sendMessage()`, `this.joinGroup()`… of a consumer reach. One class for both stages of a
 * connection: provisional while `authenticate` runs (request and params only; sending refused),
 * then bound to the accepted connection.
 *
 * @module
 */
import type { BroadcastOptions, ConsumerBinding } from "../consumer/consumer.ts";
import type { AnyMessage } from "../protocol/message.ts";
import { KeptRequest } from "./kept_request.ts";

/** What a binding needs of an accepted connection. */
export interface BoundConnection {
  /** The connection's layer channel name. */
  readonly channelName: string;
  /** True once the connection is closing or closed. */
  readonly closing: boolean;
  /** Sends a message to the client. */
  send(message: AnyMessage): Promise<void>;
  /** Sends a message to groups through the layer. */
  broadcast(message: AnyMessage, options: BroadcastOptions): Promise<void>;
  /** Joins a group. */
  join(group: string): Promise<void>;
  /** Leaves a group. */
  leave(group: string): Promise<void>;
  /** Closes the connection. */
  close(code?: number, reason?: string): void;
  /** Sends a frozen message shared by many sockets (serialized once). */
  sendShared(message: AnyMessage): void;
}

function notAccepted(what: string): Promise<never> {
  return Promise.reject(new Error(`Cannot ${what} before the connection is accepted`));
}

/**
 * A consumer's binding: provisional without `connection` (before the upgrade is accepted), else
 * bound to it. A class rather than an object literal with getters and arrow functions: V8 keeps
 * such literals in dictionary mode, and every idle connection holds one.
 */
export class ConnectionBinding implements ConsumerBinding {
  readonly #request: Request | KeptRequest;
  /**
   * `request`: the upgrade request itself (provisional), or what an accepted connection keeps of
   * it ({@linkcode KeptRequest}: `request` then rebuilds an equivalent one on first use).
   */
  constructor(
    request: Request | KeptRequest,
    readonly params: Readonly<Record<string, string>>,
    readonly connection?: BoundConnection,
  ) {
    this.#request = request;
  }
  get request(): Request {
    const r = this.#request;
    return r instanceof KeptRequest ? r.request : r;
  }
  get requestUrl(): string {
    return this.#request.url;
  }
  get channelName(): string {
    return this.connection ? this.connection.channelName : "";
  }
  get closed(): boolean {
    return this.connection ? this.connection.closing : false;
  }
  send(message: AnyMessage): Promise<void> {
    return this.connection ? this.connection.send(message) : notAccepted("send");
  }
  broadcast(message: AnyMessage, options: BroadcastOptions): Promise<void> {
    return this.connection ? this.connection.broadcast(message, options) : notAccepted("broadcast");
  }
  join(group: string): Promise<void> {
    return this.connection ? this.connection.join(group) : notAccepted("join groups");
  }
  leave(group: string): Promise<void> {
    return this.connection ? this.connection.leave(group) : Promise.resolve();
  }
  close(code?: number, reason?: string): void {
    this.connection?.close(code, reason);
  }
  sendShared(message: AnyMessage): void {
    this.connection?.sendShared(message);
  }
}

/**
 * Typed exceptions thrown to the programmer. Errors sent to a client are frames, not exceptions.
 *
 * @module
 */

/** Base class of every error Switchboard throws. */
export class SwitchboardError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A channel or group name breaks the naming rules. */
export class InvalidNameError extends SwitchboardError {}

/** A message was sent to a channel whose queue is at capacity. */
export class ChannelFull extends SwitchboardError {
  /** The channel that is full. */
  readonly channel: string;
  /** Creates the error for `channel`. */
  constructor(channel: string) {
    super(`Channel '${channel}' is full`);
    this.channel = channel;
  }
}

/** A consumer, message or handler definition is wrong (found when the class is defined or mounted). */
export class DefinitionError extends SwitchboardError {}

/** A layer alias was used that no layer is registered under. */
export class LayerNotFoundError extends SwitchboardError {}

/** The layer cannot do what was asked right now (for example Redis is down while publishing). */
export class LayerUnavailableError extends SwitchboardError {}

/** A layer message could not be encoded or decoded (bad JSON, wrong key, tampered ciphertext). */
export class SerializationError extends SwitchboardError {}

/** The layer (or app) was closed and cannot be used any more. */
export class ClosedError extends SwitchboardError {}

/**
 * A process-local channel (`name!suffix`) was used where only the layer instance that created it
 * may use it: `receive()` on either Redis layer, `groupAdd()` on the pub/sub layer (group
 * membership of the pub/sub layer lives in the memory of the process that owns the channel).
 */
export class ForeignChannelError extends SwitchboardError {
  /** The channel name. */
  readonly channel: string;
  /** Creates the error for `channel`, explaining `what` was refused. */
  constructor(channel: string, what: string) {
    super(
      `${what}: '${channel}' is a process-local channel that this layer instance did not create ` +
        `(only the process that called newChannel() can do this)`,
    );
    this.channel = channel;
  }
}

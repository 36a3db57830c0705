/**
 * Errors specific to the Redis layers.
 *
 * @module
 */
import { SwitchboardError } from "../../src/layers/kit.ts";

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

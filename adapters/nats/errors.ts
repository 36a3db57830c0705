/**
 * Errors specific to the NATS layer. {@linkcode ForeignChannelError} is the one the Redis layers
 * throw too (the same class).
 *
 * @module
 */
import { SwitchboardError } from "../../src/layers/kit.ts";
export { ForeignChannelError } from "../../src/layers/kit.ts";

/**
 * A message is larger than the NATS server accepts (its `max_payload`, 1 MB by default). Raise
 * `max_payload` in the server's configuration (NATS allows up to 64 MB; 8 MB is a common choice)
 * or send less.
 */
export class MessageTooLargeError extends SwitchboardError {
  /** The encoded size in bytes. */
  readonly size: number;
  /** The server's `max_payload` in bytes. */
  readonly maxPayload: number;
  /** Creates the error for a message of `size` bytes sent as `what`. */
  constructor(what: string, size: number, maxPayload: number) {
    super(
      `${what}: the message is ${size} bytes, more than the NATS server's max_payload ` +
        `(${maxPayload} bytes); raise max_payload in the server configuration or send less`,
    );
    this.size = size;
    this.maxPayload = maxPayload;
  }
}

/**
 * The kit for layer authors: everything a {@linkcode ChannelLayer} implementation imports from
 * the core, in one import. The memory layer (`memory.ts`) and the Redis layers are built from it.
 *
 * - the contract (`layer.ts`): {@linkcode ChannelLayer}, {@linkcode LayerMessage},
 *   {@linkcode ReceiveOptions}, {@linkcode ReceiveSink} (the optional push-based `receiveNow`),
 *   {@linkcode LayerEvent} and {@linkcode LayerEvents} (the `onEvent` listeners),
 *   {@linkcode RESYNC_MESSAGE_TYPE}, {@linkcode capacityLookup};
 * - names (`names.ts`): {@linkcode assertChannelName}, {@linkcode assertGroupName},
 *   {@linkcode isProcessLocal}, {@linkcode nonLocalName}, {@linkcode randomToken};
 * - mailboxes (`mailbox.ts`): {@linkcode Mailboxes}, the bounded per-channel queues a layer
 *   delivers into and `receive()` waits on (expiry, capacity, drop counts), `receiveNow()` too
 *   (it takes the layer's name checks, run once per receiver), and {@linkcode deepFreeze};
 * - history (`history.ts`, optional): {@linkcode HistoryCapability}, {@linkcode StreamPosition},
 *   {@linkcode HISTORY_KEY}, {@linkcode supportsHistory} — a layer that lists `"history"` in
 *   its `extensions` passes tests/layers/conformance_history.ts;
 * - the errors (`ChannelFull`, `ClosedError`, `InvalidNameError`, `LayerUnavailableError`,
 *   `SerializationError`…), {@linkcode getLogger} and {@linkcode onAbort}.
 *
 * A layer MUST:
 * - check every channel and group name with `assertChannelName` / `assertGroupName` (a bad one
 *   rejects with `InvalidNameError`) and reject a message that is not an object with a string
 *   `type` with `TypeError`;
 * - deliver a copy (never the sender's object), at most once, in order per sender and channel;
 *   drop, not deliver, a message older than its expiry;
 * - throw `ChannelFull` from `send` to a full channel; skip (count and log) full members in
 *   `groupSend`, never throw for them;
 * - keep every message when a `receive` is aborted (it rejects with the signal's reason) and
 *   keep waiting receivers across `flush()`; but when the signal is aborted with a `ClosedError`
 *   (a closed connection's receive loop), release a process-local channel: forget its queued
 *   messages and stop sending it resyncs, whether a wait was pending or not (`Mailboxes.receive`
 *   does this for a layer that hands it the signal);
 * - after `close()`, reject waiting receivers and every later call with `ClosedError`;
 * - if it has `receiveNow`, answer it synchronously without throwing: the waiting message, or
 *   `undefined` with the sink parked (settled exactly once later, a `close()` rejecting it with
 *   `ClosedError`, an abort with the signal's reason), or `null` whenever `receive` must decide;
 * - answer within a bounded time with `LayerUnavailableError` while its backend is away, and
 *   once back, deliver a `RESYNC_MESSAGE_TYPE` message into every local channel (and tell its
 *   `onEvent` listeners) when messages may have been missed.
 *
 * A layer MUST NOT throw synchronously (every method returns a promise), use message keys that
 * start with `__` for anything but its own bookkeeping, or keep a timer or connection open after
 * `close()`. tests/layers/conformance.ts checks all of this for every layer.
 *
 * @module
 */
export * from "./layer.ts";
export * from "./history.ts";
export * from "./names.ts";
export * from "./mailbox.ts";
export { type GroupMembership, type LocalFanout, localFanout } from "./local_fanout.ts";
export * from "../errors.ts";
export * from "./serializer.ts";
export { stampFromTarget } from "./history_target.ts";
export { getLogger, type Logger } from "../logger.ts";
export { backgroundInterval, onAbort } from "../abort.ts";

/**
 * The testing module: communicators that drive an app in-process or over real sockets, the
 * completion constants, broadcast capture, topic helpers (`subscribe`, `receiveTopicMessage`) and
 * {@linkcode TcpProxy}, a TCP proxy that drops or holds connections for fault-injection tests.
 * Phoenix-style assertions (`assertReceives`, `refuteReceives`) and a Chanx compatibility mode
 * (`chanx: true`, `topicCompletions: false`, `receiveAllMessages({ onTimeout: "return" })`) make
 * Chanx test suites port line by line (docs/from-chanx.md).
 *
 * ```ts
 * import { GROUP_ACTION_COMPLETE, WebsocketCommunicator } from "@switchboard/switchboard/testing";
 * ```
 *
 * @module
 */
export {
  type CommunicatorOptions,
  DEFAULT_RECEIVE_TIMEOUT,
  type ReceiveAllOptions,
  type TopicFrame,
  WebsocketCommunicator,
} from "./communicator.ts";
export type { ConnectResult, WebSocketConstructor } from "./transport.ts";
export type {
  AssertReceivesOptions,
  FrameExpectation,
  ReceivedFrame,
  RefuteReceivesOptions,
} from "./assertions.ts";
export { type CloseInfo, ConnectionClosedError, ReceiveTimeoutError } from "./inbox.ts";
export {
  type BroadcastCapture,
  captureBroadcastEvents,
  type CapturedBroadcastEvent,
  type CapturedTopicBroadcast,
  captureTopicBroadcasts,
  type TopicBroadcastCapture,
} from "./capture.ts";
export { serveForTests, type TestServer } from "./serve.ts";
export {
  COMPLETE_ACTIONS,
  EVENT_ACTION_COMPLETE,
  GROUP_ACTION_COMPLETE,
  MESSAGE_ACTION_COMPLETE,
} from "../src/protocol/builtins.ts";
export { skewClock, type SkewedClock } from "./clock.ts";
export { TcpProxy, type TcpProxyTarget } from "./tcp_proxy.ts";

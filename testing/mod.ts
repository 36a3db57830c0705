/**
 * The testing module: communicators that drive an app in-process or over real sockets, the
 * completion constants, broadcast capture, topic helpers (`subscribe`, `receiveTopicMessage`) and
 * the fault kit: private servers ({@linkcode startRedis}, {@linkcode startNats}: pause, restart,
 * flush), {@linkcode TcpProxy} (freeze, cut, refuse, latency, heal), a communicator's `drop()` and
 * `reconnect()`, and {@linkcode spawnApp} for a second process of the app (see docs/testing.md,
 * "Testing failures").
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
export {
  type Clock,
  FakeClock,
  fakeClock,
  type FakeClockOptions,
  skewClock,
  type SkewedClock,
  type TimerHandle,
} from "./clock.ts";
export { PositionTracker, recoverPath, type RecoverPositions } from "./history.ts";
export { type TcpDirection, type TcpLatency, TcpProxy, type TcpProxyTarget } from "./tcp_proxy.ts";
export {
  freePort,
  LocalService,
  type RestartOptions,
  serviceBinary,
  type ServiceKind,
  type ServiceOptions,
  ServiceUnavailableError,
  skipReason,
  skipUnless,
} from "./services.ts";
export { redisCommand, RedisServer, startRedis } from "./redis_server.ts";
export { NatsServer, startNats } from "./nats_server.ts";
export {
  clusterCli,
  type ClusterNode,
  keySlot,
  RedisClusterServer,
  startRedisCluster,
} from "./redis_cluster.ts";
export {
  type AppExitStatus,
  spawnApp,
  type SpawnAppOptions,
  type SpawnedApp,
  type WaitForOutputOptions,
} from "./spawn_app.ts";

/**
 * Switchboard: structured, typed WebSocket apps for Deno and Node.
 *
 * ```ts
 * import { App, Consumer, message, type MessageOf, Ping, Pong, wsHandler } from "@switchboard/switchboard";
 * import { z } from "zod";
 *
 * const Say = message("say", z.object({ text: z.string() }));
 * const Said = message("said", z.object({ text: z.string() }));
 *
 * class Echo extends Consumer {
 *   @wsHandler(Ping, { output: Pong })
 *   handlePing(_m: MessageOf<typeof Ping>) { return Pong.create(); }
 *   @wsHandler(Say, { output: Said })
 *   handleSay(m: MessageOf<typeof Say>) { return Said.create({ text: m.payload.text }); }
 * }
 *
 * const app = new App().ws("/ws/echo", Echo);
 * Deno.serve(app.fetch);
 * ```
 *
 * @module
 */
export {
  type AnyMessage,
  type AnyMessageType,
  type Message,
  message,
  type MessageOf,
  type MessageOptions,
  type MessagesOf,
  type MessageType,
  type PayloadInputOf,
} from "./src/protocol/message.ts";
export {
  Complete,
  COMPLETE_ACTIONS,
  EVENT_ACTION_COMPLETE,
  EventComplete,
  GROUP_ACTION_COMPLETE,
  GroupComplete,
  MESSAGE_ACTION_COMPLETE,
  Ping,
  Pong,
} from "./src/protocol/builtins.ts";
export { type ErrorItem, ErrorMessage, type ErrorPayload } from "./src/protocol/error_frames.ts";
export {
  channel,
  type ChannelDecorator,
  type ChannelOptions,
  checkHandlers,
  eventHandler,
  type HandlerDecorator,
  type HandlerHost,
  type HandlerInfo,
  type HandlerOptions,
  type HandlerResult,
  type HandlerSpec,
  type HandlerTable,
  handlerTable,
  onEvent,
  onMessage,
  registerHandlers,
  type ReplyCheck,
  type ReplyOf,
  wsHandler,
} from "./src/consumer/handlers.ts";
export {
  type AuthResult,
  type BroadcastEventOptions,
  type BroadcastOptions,
  Consumer,
  type ConsumerClass,
  type ConsumerMixinBase,
  type EventOf,
  type ParamsOf,
} from "./src/consumer/consumer.ts";
export { App } from "./adapters/deno/app.ts";
export {
  type AppOptions,
  type HttpContext,
  type HttpHandler,
  type RouteFits,
  type RouteOptions,
  type UpgradeDecision,
  type WsRoute,
} from "./src/app/app.ts";
export { DEFAULT_MAX_BODY_BYTES } from "./src/app/http_body.ts";
export { canonicalOrigin, type OriginRule } from "./src/app/origin.ts";
export { CloseCode } from "./src/protocol/close_codes.ts";
export {
  type Envelope,
  ENVELOPE_FIELDS,
  ENVELOPE_VERSION,
  MAX_REF_LENGTH,
  MAX_TOPIC_LENGTH,
} from "./src/protocol/envelope.ts";
export {
  Topic,
  type TopicBroadcastOptions,
  type TopicClass,
  type TopicEventOf,
} from "./src/consumer/topic.ts";
export type { ConnectionHandle, ServerSocket } from "./src/runtime/socket.ts";
export type { GroupMembership } from "./src/layers/local_fanout.ts";
export {
  capacityLookup,
  type CapacityOptions,
  type ChannelLayer,
  type JsonValue,
  type LayerEvent,
  LayerEvents,
  type LayerMessage,
  type ReceiveOptions,
  type ReceiveSink,
  RESYNC_MESSAGE_TYPE,
} from "./src/layers/layer.ts";
export { DEFAULT_LAYER, type LayerFactory, LayerRegistry, layers } from "./src/layers/registry.ts";
export {
  HISTORY_KEY,
  type HistoryCapability,
  type HistoryEntry,
  type HistoryLayer,
  type HistoryLossReason,
  type HistoryOptions,
  type HistoryRead,
  type HistoryReadOptions,
  type HistoryStamp,
  type StreamPosition,
  supportsHistory,
} from "./src/layers/history.ts";
export {
  assertChannelName,
  assertGroupName,
  isProcessLocal,
  MAX_NAME_LENGTH,
  nonLocalName,
} from "./src/layers/names.ts";
export {
  ChannelFull,
  ClosedError,
  DefinitionError,
  InvalidNameError,
  LayerNotFoundError,
  LayerUnavailableError,
  SerializationError,
  SwitchboardError,
} from "./src/errors.ts";
export {
  consoleLogger,
  getLogger,
  type LogFields,
  type Logger,
  type LogLevel,
  type MemoryLogger,
  memoryLogger,
  setLogger,
} from "./src/logger.ts";
export { camelize, convertKeys, decamelize } from "./src/protocol/case.ts";
export { MAX_ECHO_LENGTH, truncateForEcho, TRUNCATION_MARKER } from "./src/protocol/truncate.ts";
export { MAX_ERROR_ITEMS } from "./src/protocol/validation.ts";
export { safeGroupName } from "./src/layers/group_names.ts";
export { type DeltaStep, DeltaTracker } from "./src/consumer/streaming.ts";
export {
  MissingParamError,
  type ParamSource,
  queryParams,
  type QuerySource,
  requireParam,
  requireQuery,
  routeParams,
} from "./src/consumer/params.ts";
export type { PathParams, RouteParams } from "./src/app/route.ts";
export type { StandardJSONSchemaV1, StandardSchemaV1 } from "./src/protocol/standard_schema.ts";
export {
  backoffDelay,
  type ClaimedJob,
  type ClaimResult,
  DEFAULT_RETRY_BACKOFF,
  type EnqueueOptions,
  JobAbortedError,
  JobArgsError,
  type JobBackend,
  type JobContext,
  JobFailedError,
  type JobFunction,
  type JobHandle,
  JobLostError,
  type JobQueue,
  type JobQueueDepth,
  JobQueueUnavailableError,
  type JobStatus,
  JobTimeoutError,
  type Lease,
  type ResultOptions,
  ResultTimeoutError,
  type RetryBackoff,
  UnknownJobError,
  UnrecoverableJobError,
  type WorkSignal,
} from "./src/jobs/contract.ts";
export type { JobObserver } from "./src/observe/hooks.ts";
export {
  type BurstResult,
  type StopOptions,
  Worker,
  type WorkerEvent,
  type WorkerEventJob,
  type WorkerOptions,
} from "./src/jobs/worker.ts";
export {
  type AsyncApiDocument,
  AsyncApiError,
  type AsyncApiInfo,
  type AsyncApiObject,
  type AsyncApiOptions,
  type AsyncApiServer,
  type AsyncApiSource,
  generateAsyncApi,
} from "./src/asyncapi/generator.ts";
export {
  type AsyncApiHtmlOptions,
  DEFAULT_ASSETS_BASE_URL,
  inlineJson,
  REACT_COMPONENT_VERSION,
  renderAsyncApiErrorHtml,
  renderAsyncApiHtml,
} from "./adapters/asyncapi/html.ts";
export type { JsonSchema } from "./src/asyncapi/schema.ts";
export {
  DEFAULT_LIST_LIMIT,
  MAX_KEY_LENGTH,
  MAX_LIST_LIMIT,
  MAX_META_BYTES,
  type PresenceBackend,
  type PresenceDiff,
  type PresenceEntries,
  type PresenceEvent,
  PresenceLimitError,
  type PresenceList,
  type PresenceListener,
  type PresenceMeta,
  type PresenceStats,
  PresenceUnavailableError,
} from "./src/presence/backend.ts";
export { InMemoryPresence } from "./src/presence/memory.ts";
export { DEFAULT_PRESENCE, presenceBackends, PresenceRegistry } from "./src/presence/registry.ts";
export {
  PRESENCE_ACTION,
  PRESENCE_DIFF_ACTION,
  PresenceDiffMessage,
  PresenceReply,
  type PresenceReplyPayload,
  PresenceRequest,
  type PresenceRequestPayload,
} from "./src/presence/frames.ts";
export {
  DEFAULT_DIFF_INTERVAL_MS,
  MAX_GROUPS_PER_CONNECTION,
  type PresenceOptions,
} from "./src/presence/options.ts";
export { PRESENCE_LIMIT, PRESENCE_REFUSED } from "./src/presence/connection_presence.ts";
export { MAX_DIFF_KEYS } from "./src/presence/feed.ts";

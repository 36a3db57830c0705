/**
 * Tracing of a Switchboard server on OpenTelemetry (`@opentelemetry/api`, loaded only by this
 * entry point): a span per handled frame and per job, the W3C `traceparent` carried across the
 * channel layer and the job queue. docs/observability.md shows the setup.
 *
 * ```ts ignore
 * import { installTracing, traceFunctions, traceLayer, traceQueue } from "@switchboard/switchboard/otel";
 * installTracing();                                   // after registering a tracer provider
 * layers.register("chat", traceLayer(new RedisPubSubChannelLayer({ url })));
 * const queue = traceQueue(new RedisJobQueue({ url }));
 * new Worker(queue, { functions: traceFunctions(functions) });
 * ```
 *
 * @module
 */
export {
  currentTraceparent,
  installTracing,
  TRACE_ARG_KEY,
  traceFunctions,
  traceLayer,
  traceQueue,
  TRACER_NAME,
  type TracingOptions,
} from "./tracing.ts";

/**
 * Tracing on `@opentelemetry/api`: a span per handled client frame and per layer event
 * ({@linkcode installTracing}), a span per job try ({@linkcode traceFunctions}), and the W3C
 * `traceparent` carried across the channel layer ({@linkcode traceLayer}) and the job queue
 * ({@linkcode traceQueue}), so one trace follows a client frame → its job → the worker (another
 * process) → the result event → the frame pushed to the socket.
 *
 * Only this adapter imports `@opentelemetry/api`: an app that does not trace never loads it.
 * The app registers its tracer provider and a context manager (`AsyncLocalStorageContextManager`
 * from `@opentelemetry/context-async-hooks`) as usual; without a context manager, spans are made
 * but a handler's calls do not see its span.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { ChannelLayer, LayerMessage } from "../../src/layers/layer.ts";
import type { JobFunction, JobQueue, JsonValue } from "../../src/jobs/contract.ts";
import { type FrameTracer, setFrameTracer } from "../../src/observe/hooks.ts";

/** The instrumentation scope name of the spans. */
export const TRACER_NAME = "switchboard";

/** The key of the job argument that carries the trace context ({@linkcode traceQueue}). */
export const TRACE_ARG_KEY = "~traceparent";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Options of {@linkcode installTracing} and {@linkcode traceFunctions}. */
export interface TracingOptions {
  /** The tracer's name, from the global tracer provider. Default {@linkcode TRACER_NAME}. */
  tracerName?: string;
}

/**
 * Opens a span around every client frame a handler handles (`ws <action>`, kind SERVER) and
 * every layer event or topic event (`layer <type>`, kind CONSUMER, child of the `traceparent`
 * the message carries, if any), in this process. Returns the function that uninstalls it.
 */
export function installTracing(options: TracingOptions = {}): () => void {
  const tracer = trace.getTracer(options.tracerName ?? TRACER_NAME);
  const frames: FrameTracer = {
    span(name, attributes, parent, run) {
      const parentContext = parent ? contextOf(parent) ?? context.active() : context.active();
      const kind = parent !== undefined || name.startsWith("layer ")
        ? SpanKind.CONSUMER
        : SpanKind.SERVER;
      return inSpan(tracer, name, kind, attributes, parentContext, run);
    },
  };
  setFrameTracer(frames);
  return () => setFrameTracer(undefined);
}

/** The W3C `traceparent` of the active span, or undefined outside a (valid) span. */
export function currentTraceparent(): string | undefined {
  const span = trace.getSpan(context.active());
  const sc = span?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/** A context whose remote parent is `traceparent`, or undefined when it is not a valid one. */
export function contextOf(
  traceparent: string,
  base: Context = ROOT_CONTEXT,
): Context | undefined {
  const m = typeof traceparent === "string" ? TRACEPARENT.exec(traceparent) : null;
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  return trace.setSpanContext(base, {
    traceId: m[1],
    spanId: m[2],
    traceFlags: parseInt(m[3], 16),
    isRemote: true,
  });
}

/**
 * `layer`, with the `traceparent` of the active span added to every message it sends
 * (`send`, `groupSend`); receivers with {@linkcode installTracing} continue the trace. Register
 * the wrapped layer: `layers.register("chat", traceLayer(new RedisPubSubChannelLayer(...)))`.
 */
export function traceLayer<L extends ChannelLayer>(layer: L): L {
  return new Proxy(layer, {
    get(target, key, receiver) {
      if (key === "send" || key === "groupSend") {
        return (to: string, message: LayerMessage) => {
          const traceparent = currentTraceparent();
          const stamped = traceparent && message.traceparent === undefined
            ? { ...message, traceparent }
            : message;
          return target[key](to, stamped);
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * `queue`, whose `enqueue` adds the active span's trace context as a last argument
 * `{"~traceparent": …}`. Run the jobs with {@linkcode traceFunctions}, which takes it off again:
 * trace the producers and the workers of a queue together.
 */
export function traceQueue<Q extends JobQueue>(queue: Q): Q {
  return new Proxy(queue, {
    get(target, key, receiver) {
      if (key === "enqueue") {
        const enqueue: JobQueue["enqueue"] = (name, args, options) => {
          const traceparent = currentTraceparent();
          const carried = traceparent ? [...args, { [TRACE_ARG_KEY]: traceparent }] : args;
          return target.enqueue(name, carried as JsonValue[], options);
        };
        return enqueue;
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * The job functions, each try run in a span `job <name>` (kind CONSUMER) that continues the
 * trace of the enqueue ({@linkcode traceQueue}'s last argument, removed before the function
 * sees its arguments). A failed try marks its span as an error.
 */
export function traceFunctions<S>(
  functions: Record<string, JobFunction<S>>,
  options: TracingOptions = {},
): Record<string, JobFunction<S>> {
  const tracer = trace.getTracer(options.tracerName ?? TRACER_NAME);
  const traced: Record<string, JobFunction<S>> = {};
  for (const [name, fn] of Object.entries(functions)) {
    traced[name] = (ctx, ...args: unknown[]) => {
      const last = args[args.length - 1] as Record<string, unknown> | undefined;
      let parent: Context | undefined;
      if (
        last && typeof last === "object" && !Array.isArray(last) &&
        Object.keys(last).length === 1 &&
        typeof last[TRACE_ARG_KEY] === "string"
      ) {
        args.pop();
        parent = contextOf(last[TRACE_ARG_KEY] as string);
      }
      const attributes = {
        "switchboard.job.id": ctx.jobId,
        "switchboard.job.name": ctx.name,
        "switchboard.job.try": ctx.tryNumber,
      };
      return inSpan(
        tracer,
        `job ${name}`,
        SpanKind.CONSUMER,
        attributes,
        parent ?? context.active(),
        async () => await fn(ctx, ...args),
      );
    };
  }
  return traced;
}

function inSpan<T>(
  tracer: Tracer,
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  parent: Context,
  run: () => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(
    name,
    { kind, attributes },
    parent,
    async (span: Span) => {
      try {
        return await run();
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * Metrics of a Switchboard server in the Prometheus text format, with no dependency:
 * `mountMetrics(app)` serves `/metrics` (behind a bearer token when given), `metricsOf(app)` is
 * the app's {@linkcode ServerMetrics} (pass its `jobs` to a `Worker`, watch queues and layers).
 * docs/observability.md lists every metric.
 *
 * ```ts ignore
 * import { mountMetrics } from "@switchboard/switchboard/metrics";
 * const metrics = mountMetrics(app, { token: Deno.env.get("METRICS_TOKEN") });
 * metrics.watchQueue(queue);
 * const worker = new Worker(queue, { functions, observer: metrics.jobs });
 * ```
 *
 * @module
 */
export { metricsOf, mountMetrics, type MountMetricsOptions } from "./mount.ts";
export {
  type DepthSource,
  type EventSource,
  type QueueReading,
  RECENT_ERRORS,
  type RecentError,
  ServerMetrics,
  type ServerMetricsOptions,
  UNKNOWN_ACTION,
} from "../../src/observe/server_metrics.ts";
export {
  type Child,
  type Collector,
  Counter,
  DURATION_BUCKETS,
  type FamilyOptions,
  Gauge,
  Histogram,
  MetricFamily,
  MetricsRegistry,
  type MetricType,
  OVERFLOW_LABEL,
} from "../../src/observe/registry.ts";
export {
  formatNumber,
  PROMETHEUS_CONTENT_TYPE,
  renderPrometheus,
} from "../../src/observe/exposition.ts";
export type {
  ConnectionObserver,
  JobObserver,
  ObservedConnection,
} from "../../src/observe/hooks.ts";

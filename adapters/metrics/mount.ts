/**
 * The metrics of an app ({@linkcode metricsOf}: made and attached on first use) and the
 * `/metrics` route in the Prometheus text format ({@linkcode mountMetrics}).
 *
 * @module
 */
import type { App } from "../../mod.ts";
import { observeApp } from "../../src/app/app.ts";
import { assertToken, refuseWithoutToken } from "../../src/observe/access.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "../../src/observe/exposition.ts";
import { ServerMetrics, type ServerMetricsOptions } from "../../src/observe/server_metrics.ts";

const appMetrics = new WeakMap<App, ServerMetrics>();

/**
 * The {@linkcode ServerMetrics} of `app`, made on the first call: from then on the connections
 * the app accepts report to it (connections already open are not counted). `mountMetrics` and
 * `mountInspector` share it; pass `metricsOf(app).jobs` to a `Worker` in the same process.
 * `options` apply when this call makes them.
 */
export function metricsOf(
  app: App,
  options: ServerMetricsOptions = {},
): ServerMetrics {
  let metrics = appMetrics.get(app);
  if (!metrics) {
    metrics = new ServerMetrics(options);
    appMetrics.set(app, metrics);
    observeApp(app, metrics);
  }
  return metrics;
}

/** Options of {@linkcode mountMetrics}. */
export interface MountMetricsOptions {
  /** The route. Default `/metrics`. */
  path?: string;
  /**
   * The bearer token a scrape must send (`Authorization: Bearer <token>`): 401 without it, 403
   * with another. Default: none, the route is open — only on a server reached on loopback or a
   * private network.
   */
  token?: string;
  /** Time one client frame in this many (see `ServerMetricsOptions`); when this call makes them. */
  timeEvery?: number;
}

/**
 * Serves `app`'s metrics ({@linkcode metricsOf}) at `/metrics` in the Prometheus text format
 * (version 0.0.4), behind `options.token` when given. Returns the metrics (to watch queues and
 * layers, or to hand `.jobs` to a worker).
 *
 * ```ts ignore
 * const metrics = mountMetrics(app, { token: Deno.env.get("METRICS_TOKEN") });
 * metrics.watchQueue(queue);
 * ```
 */
export function mountMetrics(
  app: App,
  options: MountMetricsOptions = {},
): ServerMetrics {
  assertToken(options.token, "mountMetrics");
  const metrics = metricsOf(app, { timeEvery: options.timeEvery });
  app.get(options.path ?? "/metrics", async (request) => {
    const refusal = refuseWithoutToken(request, options.token);
    if (refusal) return refusal;
    await metrics.collect();
    return new Response(renderPrometheus(metrics.registry), {
      headers: {
        "content-type": PROMETHEUS_CONTENT_TYPE,
        "cache-control": "no-store",
      },
    });
  });
  return metrics;
}

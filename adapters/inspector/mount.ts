/**
 * `mountInspector(app, { token })`: the live inspector page at `/inspector` and its WebSocket at
 * `/inspector/ws`, both refused without the token (401) or with another (403). The socket is an
 * ordinary consumer of the app, without a channel layer, that pushes a snapshot of the app's
 * metrics every `intervalMs`.
 *
 * @module
 */
import { type App, Consumer } from "../../mod.ts";
import { UNDOCUMENTED } from "../../src/asyncapi/generator.ts";
import { assertToken, refuseWithoutToken } from "../../src/observe/access.ts";
import { type InspectorSnapshot, SnapshotTaker } from "../../src/observe/snapshot.ts";
import type { ServerMetrics } from "../../src/observe/server_metrics.ts";
import { metricsOf } from "../metrics/mount.ts";
import { inspectorPage } from "./page.ts";

/** The action of the frame the inspector's WebSocket pushes: `{action, payload: snapshot}`. */
export const INSPECTOR_SNAPSHOT_ACTION = "inspector.snapshot";

/** Options of {@linkcode mountInspector}. */
export interface MountInspectorOptions {
  /**
   * The token the page and its WebSocket require (`?token=` in the page's URL, or
   * `Authorization: Bearer`). Required: the inspector lists every connection.
   */
  token: string;
  /** Where the page lives; its socket is at `<path>/ws`. Default `/inspector`. */
  path?: string;
  /** How often the socket pushes a snapshot, in ms. Default 1000 (at least 50). */
  intervalMs?: number;
}

/**
 * Mounts the inspector on `app` (it is off until mounted): the page at `options.path`
 * (`/inspector`), live over its own WebSocket (`/inspector/ws`), showing what
 * {@linkcode metricsOf}`(app)` sees. Returns the metrics.
 *
 * ```ts ignore
 * mountInspector(app, { token: Deno.env.get("INSPECTOR_TOKEN")! });
 * // open http://127.0.0.1:8080/inspector?token=…
 * ```
 */
export function mountInspector(
  app: App,
  options: MountInspectorOptions,
): ServerMetrics {
  if (options?.token === undefined) {
    throw new TypeError("mountInspector: a token is required ({ token })");
  }
  assertToken(options.token, "mountInspector");
  const token = options.token;
  const path = (options.path ?? "/inspector").replace(/\/+$/, "") ||
    "/inspector";
  const intervalMs = Math.max(50, options.intervalMs ?? 1000);
  const metrics = metricsOf(app);
  const sampler = new SharedSampler(metrics, intervalMs);

  class InspectorConsumer extends Consumer {
    static override layer = null;
    /** Not part of the app's API: left out of its AsyncAPI document. */
    static readonly [UNDOCUMENTED] = true;
    #stop: (() => void) | undefined;

    override authenticate(request: Request): true | Response {
      return refuseWithoutToken(request, token, "header-or-query") ?? true;
    }

    override postAuthentication(): void {
      this.#stop = sampler.subscribe((snapshot) => {
        const frame = { action: INSPECTOR_SNAPSHOT_ACTION, payload: snapshot };
        void this.sendMessage(frame).catch(() => {});
      });
    }

    override onDisconnect(): void {
      this.#stop?.();
    }
  }
  Object.defineProperty(InspectorConsumer, "name", {
    value: "InspectorConsumer",
  });

  app.ws(`${path}/ws`, InspectorConsumer);
  app.get(path, (request) => {
    const refusal = refuseWithoutToken(request, token, "header-or-query");
    if (refusal) return refusal;
    return new Response(inspectorPage(`${path}/ws`), {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
        "content-security-policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
      },
    });
  });
  return metrics;
}

/** One timer per mount, running while at least one inspector socket listens. */
class SharedSampler {
  readonly #taker: SnapshotTaker;
  readonly #listeners = new Set<(snapshot: InspectorSnapshot) => void>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;

  constructor(metrics: ServerMetrics, readonly intervalMs: number) {
    this.#taker = new SnapshotTaker(metrics);
  }

  /** Calls `listener` with a snapshot now and at every tick; returns the unsubscribe function. */
  subscribe(listener: (snapshot: InspectorSnapshot) => void): () => void {
    this.#listeners.add(listener);
    void this.#taker.take().then(listener, () => {});
    this.#timer ??= setInterval(() => this.#tick(), this.intervalMs);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  async #tick(): Promise<void> {
    if (this.#busy) return; // a slow queue read: skip a tick rather than pile up
    this.#busy = true;
    try {
      const snapshot = await this.#taker.take();
      for (const listener of this.#listeners) listener(snapshot);
    } catch {
      // the next tick tries again
    } finally {
      this.#busy = false;
    }
  }
}

/**
 * {@linkcode ServerMetrics}: the metrics of a Switchboard server (docs/observability.md lists
 * them), the {@linkcode ConnectionObserver} an app's connections report to and the
 * {@linkcode JobObserver} a worker reports to, with the live connections and the recent error
 * frames the inspector shows. Hooks for the features that report on their own: recovery
 * outcomes ({@linkcode ServerMetrics.recovery}), presence sizes ({@linkcode ServerMetrics.presence}),
 * the job queue ({@linkcode ServerMetrics.watchQueue}) and the layers' health
 * ({@linkcode ServerMetrics.watchLayer}).
 *
 * @module
 */
import type { ConnectionObserver, JobObserver, ObservedConnection } from "./hooks.ts";
import { type Counter, type Histogram, type MetricFamily, MetricsRegistry } from "./registry.ts";
import { presenceSizes } from "../presence/connection_presence.ts";

/** The label value of client frames whose action no handler declares. */
export const UNKNOWN_ACTION = "unknown";

/** How many recent error frames are kept for the inspector. */
export const RECENT_ERRORS = 50;

/** One error frame sent to a client, as the inspector lists it. */
export interface RecentError {
  /** When it was sent (epoch ms). */
  at: number;
  /** Its type (the first item's `type`, or the `reason`). */
  type: string;
  /** Its message, at most 200 characters. */
  detail: string;
}

/** The job queue depth, as last read ({@linkcode ServerMetrics.watchQueue}). */
export interface QueueReading {
  /** The queue's name (a label). */
  name: string;
  /** Jobs ready, delayed, running; undefined before the first successful read. */
  depth?: { queued: number; delayed: number; running: number };
  /** The last read's error, if it failed. */
  error?: string;
}

/** Options of {@linkcode ServerMetrics}. */
export interface ServerMetricsOptions {
  /** The registry to add the metrics to. Default: a new one. */
  registry?: MetricsRegistry;
  /** How long reading a job queue's depth may take at a scrape, in ms. Default 1000. */
  collectTimeoutMs?: number;
  /**
   * Time one client frame in this many (handler durations, layer lag): reading the clock costs
   * more per frame than every counter together. Default 16; 1 times every frame.
   */
  timeEvery?: number;
}

/** A queue that can say how deep it is (`InMemoryJobQueue`, `RedisJobQueue`). */
export interface DepthSource {
  /** How many jobs wait, are delayed and run now. */
  depth(): Promise<{ queued: number; delayed: number; running: number }>;
}

/** A layer whose health can be watched (`onEvent`: disconnected / resync). */
export interface EventSource {
  /** Subscribes to the layer's events; returns the unsubscribe function. */
  onEvent?(
    listener: (event: { type: string; reason: string }) => void,
  ): () => void;
}

/** The metrics of one server (one app and, optionally, its workers). */
export class ServerMetrics implements ConnectionObserver {
  /** The registry the metrics live in (`/metrics` renders it). */
  readonly registry: MetricsRegistry;
  /** The live connections (opened, not closed yet). */
  readonly connections: Set<ObservedConnection> = new Set();
  /** The last {@linkcode RECENT_ERRORS} error frames, oldest first. */
  readonly recentErrors: RecentError[] = [];
  /** The job queues watched, with their last reading. */
  readonly queues: QueueReading[] = [];
  /** The layers watched: alias → up (true) or disconnected (false), and the last event's reason. */
  readonly layers: Map<string, { up: boolean; reason: string; since: number }> = new Map();
  /** Pass to `new Worker(queue, { observer })`: job durations and outcomes. */
  readonly jobs: JobObserver;

  /** `switchboard_connections_open{consumer}` (docs/observability.md). */
  readonly connectionsOpen: MetricFamily<"gauge">;
  /** `switchboard_connections_opened_total{consumer}` (docs/observability.md). */
  readonly connectionsOpened: MetricFamily<"counter">;
  /** `switchboard_connections_closed_total{consumer,code}` (docs/observability.md). */
  readonly connectionsClosed: MetricFamily<"counter">;
  /** `switchboard_frames_received_total{action}` (docs/observability.md). */
  readonly framesReceived: MetricFamily<"counter">;
  /** `switchboard_frames_sent_total{action}` (docs/observability.md). */
  readonly framesSent: MetricFamily<"counter">;
  /** `switchboard_sent_bytes_total` (docs/observability.md). */
  readonly sentBytes: Counter;
  /** `switchboard_outbox_buffered_bytes` (docs/observability.md). */
  readonly bufferedBytes: MetricFamily<"gauge">;
  /** `switchboard_error_frames_total{type}` (docs/observability.md). */
  readonly errorFrames: MetricFamily<"counter">;
  /** `switchboard_handler_duration_seconds{action}` (docs/observability.md). */
  readonly handlerDuration: MetricFamily<"histogram">;
  /** `switchboard_slow_client_dropped_frames_total` (docs/observability.md). */
  readonly slowDropped: Counter;
  /** `switchboard_slow_client_closes_total` (docs/observability.md). */
  readonly slowCloses: Counter;
  /** `switchboard_layer_published_total` (docs/observability.md). */
  readonly layerPublished: Counter;
  /** `switchboard_layer_received_total{type}` (docs/observability.md). */
  readonly layerMessages: MetricFamily<"counter">;
  /** `switchboard_layer_lag_seconds` (docs/observability.md). */
  readonly layerLag: Histogram;
  /** `switchboard_layer_up{layer}` (docs/observability.md). */
  readonly layerUp: MetricFamily<"gauge">;
  /** `switchboard_resyncs_total` (docs/observability.md). */
  readonly resyncs: Counter;
  /** `switchboard_recoveries_total{outcome}` (docs/observability.md). */
  readonly recoveries: MetricFamily<"counter">;
  /** `switchboard_presence_groups` (docs/observability.md). */
  readonly presenceGroups: MetricFamily<"gauge">;
  /** `switchboard_presence_members` (docs/observability.md). */
  readonly presenceMembers: MetricFamily<"gauge">;
  /** `switchboard_jobs_finished_total{name,outcome}` (docs/observability.md). */
  readonly jobsFinished: MetricFamily<"counter">;
  /** `switchboard_job_duration_seconds{name}` (docs/observability.md). */
  readonly jobDuration: MetricFamily<"histogram">;
  /** `switchboard_job_queue_depth{queue,state}` (docs/observability.md). */
  readonly queueDepth: MetricFamily<"gauge">;

  readonly #unknownIn: Counter;
  readonly #sources: Array<{ reading: QueueReading; source: DepthSource }> = [];
  readonly #timeoutMs: number;
  readonly #timeEvery: number;
  #untimed = 0;
  #unlagged = 0;

  /** Makes the metrics in `options.registry` (or a new registry). */
  constructor(options: ServerMetricsOptions = {}) {
    const r = this.registry = options.registry ?? new MetricsRegistry();
    this.#timeoutMs = options.collectTimeoutMs ?? 1000;
    this.#timeEvery = Math.max(1, Math.floor(options.timeEvery ?? 16));
    const consumer = { labelNames: ["consumer"], maxChildren: 100 };
    this.connectionsOpen = r.gauge(
      "switchboard_connections_open",
      "Open connections.",
      consumer,
    );
    this.connectionsOpened = r.counter(
      "switchboard_connections_opened_total",
      "Connections opened.",
      consumer,
    );
    this.connectionsClosed = r.counter(
      "switchboard_connections_closed_total",
      "Connections closed, by close code.",
      { labelNames: ["consumer", "code"], maxChildren: 300 },
    );
    this.framesReceived = r.counter(
      "switchboard_frames_received_total",
      `Client frames dispatched, by handler action ('${UNKNOWN_ACTION}': no handler).`,
      { labelNames: ["action"], maxChildren: 500 },
    );
    this.#unknownIn = this.framesReceived.get(UNKNOWN_ACTION);
    this.framesSent = r.counter(
      "switchboard_frames_sent_total",
      "Frames written to sockets, by action (completions and errors included).",
      { labelNames: ["action"], maxChildren: 500 },
    );
    this.sentBytes = r.counter(
      "switchboard_sent_bytes_total",
      "Text written to sockets, in UTF-16 code units (bytes for ASCII).",
    ).get("");
    this.bufferedBytes = r.gauge(
      "switchboard_outbox_buffered_bytes",
      "Bytes queued in the sockets of open connections and not sent yet (read at scrape).",
    );
    this.errorFrames = r.counter(
      "switchboard_error_frames_total",
      "Error frames sent to clients, by type (the item type or the reason).",
      { labelNames: ["type"], maxChildren: 100 },
    );
    this.handlerDuration = r.histogram(
      "switchboard_handler_duration_seconds",
      "Time from dispatch to the reply of a client frame, by handler action.",
      { labelNames: ["action"], maxChildren: 500 },
    );
    this.slowDropped = r.counter(
      "switchboard_slow_client_dropped_frames_total",
      "Droppable frames dropped for slow clients.",
    ).get("");
    this.slowCloses = r.counter(
      "switchboard_slow_client_closes_total",
      "Connections closed for being too slow (1013).",
    ).get("");
    this.layerPublished = r.counter(
      "switchboard_layer_published_total",
      "Group messages published by connections (one per group).",
    ).get("");
    this.layerMessages = r.counter(
      "switchboard_layer_received_total",
      "Layer messages received by connections, by type.",
      { labelNames: ["type"], maxChildren: 20 },
    );
    this.layerLag = r.histogram(
      "switchboard_layer_lag_seconds",
      "Publish-to-receive time of group messages (sender and receiver clocks).",
    ).get("");
    this.layerUp = r.gauge(
      "switchboard_layer_up",
      "1 while a watched channel layer is connected, 0 after it reported a disconnect.",
      { labelNames: ["layer"], maxChildren: 50 },
    );
    this.resyncs = r.counter(
      "switchboard_resyncs_total",
      "Resync notices delivered to connections (the layer may have lost messages).",
    ).get("");
    this.recoveries = r.counter(
      "switchboard_recoveries_total",
      "Recovery attempts after a reconnect or resync, by outcome.",
      { labelNames: ["outcome"], maxChildren: 20 },
    );
    this.presenceGroups = r.gauge(
      "switchboard_presence_groups",
      "Groups with presence tracked in this process.",
    );
    this.presenceMembers = r.gauge(
      "switchboard_presence_members",
      "Presence members tracked in this process.",
    );
    this.jobsFinished = r.counter(
      "switchboard_jobs_finished_total",
      "Job tries finished, by job function and outcome (completed, failed, retried).",
      { labelNames: ["name", "outcome"], maxChildren: 300 },
    );
    this.jobDuration = r.histogram(
      "switchboard_job_duration_seconds",
      "Duration of job tries, by job function.",
      { labelNames: ["name"], maxChildren: 100 },
    );
    this.queueDepth = r.gauge(
      "switchboard_job_queue_depth",
      "Jobs in a watched queue, by state (queued, delayed, running), read at scrape.",
      { labelNames: ["queue", "state"], maxChildren: 60 },
    );
    r.collect(() => {
      let buffered = 0;
      for (const c of this.connections) buffered += c.bufferedBytes;
      this.bufferedBytes.get("").set(buffered);
    });
    this.jobs = {
      finished: (name, outcome, seconds) => {
        this.jobsFinished.labels(name, outcome).inc();
        this.jobDuration.get(name).observe(seconds);
      },
    };
  }

  // --- ConnectionObserver ----------------------------------------------------------------------

  /** Counts an opened connection and lists it. */
  opened(connection: ObservedConnection): void {
    this.connections.add(connection);
    const name = connection.cls.name;
    this.connectionsOpen.get(name).inc();
    this.connectionsOpened.get(name).inc();
  }

  /** Counts a closed connection by close code. */
  closed(connection: ObservedConnection, code: number): void {
    if (!this.connections.delete(connection)) return;
    const name = connection.cls.name;
    this.connectionsOpen.get(name).dec();
    this.connectionsClosed.labels(name, String(code)).inc();
  }

  /** Counts a dispatched client frame by handler action (`unknown` without one). */
  received(action: string | undefined): void {
    (action === undefined ? this.#unknownIn : this.framesReceived.get(action))
      .value++;
  }

  /** The start time of one frame in `timeEvery`, else 0 (untimed). */
  startTiming(): number {
    if (++this.#untimed < this.#timeEvery) return 0;
    this.#untimed = 0;
    return performance.now();
  }

  /** Records a handler duration (timed from `started`). */
  handled(action: string, started: number): void {
    this.handlerDuration.get(action).observe(
      (performance.now() - started) / 1000,
    );
  }

  /** Counts a frame sent, its text, and an error frame by type. */
  sent(
    frame: { readonly action: string; readonly payload?: unknown },
    length: number,
  ): void {
    this.framesSent.get(frame.action).value++;
    this.sentBytes.value += length;
    if (frame.action === "error") this.#errorFrame(frame.payload);
  }

  /** Counts a frame dropped for a slow client. */
  dropped(): void {
    this.slowDropped.value++;
  }

  /** Counts a slow client closed. */
  slowClosed(): void {
    this.slowCloses.value++;
  }

  /** Counts a broadcast, once per group. */
  published(groups: number): void {
    this.layerPublished.value += groups;
  }

  /** Counts a layer message by type; records its lag when it carries `sent_at`. */
  layerReceived(type: string, sentAt: unknown): void {
    this.layerMessages.get(type).value++;
    if (typeof sentAt !== "number" || ++this.#unlagged < this.#timeEvery) {
      return;
    }
    this.#unlagged = 0;
    this.layerLag.observe(Math.max(0, Date.now() - sentAt) / 1000);
  }

  /** Counts a resync notice. */
  resynced(): void {
    this.resyncs.value++;
  }

  // --- hooks for other features ----------------------------------------------------------------

  /**
   * Counts one recovery attempt (history / recovery after a reconnect or resync) with its
   * outcome, e.g. `"recovered"`, `"partial"`, `"resync"`, `"failed"` (at most 20 distinct values).
   */
  recovery(outcome: string): void {
    this.recoveries.get(outcome).inc();
  }

  /** Sets the presence sizes: groups with presence and members tracked in this process. */
  presence(groups: number, members: number): void {
    this.presenceGroups.get("").set(groups);
    this.presenceMembers.get("").set(members);
  }

  /** Reads `queue`'s depth at every scrape (label `queue` = `name`); returns the unwatch function. */
  watchQueue(queue: DepthSource, name = "default"): () => void {
    const entry = { reading: { name } as QueueReading, source: queue };
    this.#sources.push(entry);
    this.queues.push(entry.reading);
    return () => {
      this.#sources.splice(this.#sources.indexOf(entry), 1);
      this.queues.splice(this.queues.indexOf(entry.reading), 1);
    };
  }

  /**
   * Follows `layer`'s events (`disconnected`, `resync`) under `alias`: `switchboard_layer_up` and
   * the inspector's layer health. Returns the unwatch function (a layer without events: up).
   */
  watchLayer(alias: string, layer: EventSource): () => void {
    const gauge = this.layerUp.get(alias);
    gauge.set(1);
    this.layers.set(alias, { up: true, reason: "", since: Date.now() });
    const off = layer.onEvent?.((event) => {
      const up = event.type !== "disconnected";
      gauge.set(up ? 1 : 0);
      this.layers.set(alias, { up, reason: event.reason, since: Date.now() });
    });
    return () => {
      off?.();
      this.layers.delete(alias);
    };
  }

  /**
   * Reads what is sampled rather than counted (the watched queues' depth, each within
   * `collectTimeoutMs`; a failed read keeps the last values and is reported in `queues`).
   */
  async collect(): Promise<void> {
    const sizes = presenceSizes();
    this.presence(sizes.groups, sizes.members);
    await Promise.all(this.#sources.map(async ({ reading, source }) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const depth = await Promise.race([
          source.depth(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${this.#timeoutMs} ms`)),
              this.#timeoutMs,
            );
          }),
        ]);
        reading.depth = depth;
        reading.error = undefined;
        this.queueDepth.labels(reading.name, "queued").set(depth.queued);
        this.queueDepth.labels(reading.name, "delayed").set(depth.delayed);
        this.queueDepth.labels(reading.name, "running").set(depth.running);
      } catch (error) {
        reading.error = error instanceof Error ? error.message : String(error);
      } finally {
        clearTimeout(timer);
      }
    }));
  }

  #errorFrame(payload: unknown): void {
    let type = "error";
    let detail = "";
    if (Array.isArray(payload)) {
      const first = payload[0] as { type?: unknown; msg?: unknown } | undefined;
      if (typeof first?.type === "string") type = first.type;
      if (typeof first?.msg === "string") detail = first.msg;
    } else if (payload && typeof payload === "object") {
      const p = payload as { reason?: unknown; detail?: unknown };
      if (typeof p.reason === "string") type = p.reason;
      if (typeof p.detail === "string") detail = p.detail;
    }
    this.errorFrames.get(type).inc();
    const recent = this.recentErrors;
    if (recent.length >= RECENT_ERRORS) recent.shift();
    recent.push({
      at: Date.now(),
      type: type.slice(0, 100),
      detail: detail.slice(0, 200),
    });
  }
}

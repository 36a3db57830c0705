/**
 * What the inspector page shows, read from a {@linkcode ServerMetrics}: connections, local groups
 * and their sizes, rates per action (from the counters' change since the last reading), recent
 * errors, the job queues, the layers. Every list is bounded, whatever the server holds.
 *
 * @module
 */
import type { Counter } from "./registry.ts";
import type { ServerMetrics } from "./server_metrics.ts";

/** Most connections, groups and actions listed in one snapshot. */
export const SNAPSHOT_LIMIT = 100;

/** One connection as the inspector lists it. */
export interface ConnectionRow {
  /** Consumer class. */
  consumer: string;
  /** Layer channel ("" without a layer). */
  channel: string;
  /** Groups (at most 10). */
  groups: string[];
  /** Topic subscriptions. */
  subscriptions: number;
  /** Bytes queued in the socket. */
  buffered: number;
}

/** One action's rates. */
export interface ActionRate {
  /** The action (frames received: handler actions, `unknown`; frames sent: any). */
  action: string;
  /** Received per second since the last snapshot. */
  inPerSecond: number;
  /** Sent per second since the last snapshot. */
  outPerSecond: number;
  /** Received in total. */
  inTotal: number;
  /** Sent in total. */
  outTotal: number;
}

/** One reading of the server, as the inspector's WebSocket sends it. */
export interface InspectorSnapshot {
  /** When it was taken (epoch ms). */
  at: number;
  /** Open connections: total, by consumer, and the first {@linkcode SNAPSHOT_LIMIT}. */
  connections: {
    total: number;
    byConsumer: Record<string, number>;
    list: ConnectionRow[];
  };
  /** Local groups with their local member count, largest first. */
  groups: Array<{ group: string; members: number }>;
  /** Rates per action, busiest first. */
  rates: ActionRate[];
  /** Recent error frames, newest first. */
  errors: Array<{ at: number; type: string; detail: string }>;
  /** The watched job queues and the job outcomes. */
  jobs: {
    queues: Array<
      {
        name: string;
        queued?: number;
        delayed?: number;
        running?: number;
        error?: string;
      }
    >;
    finished: Array<{ name: string; outcome: string; count: number }>;
  };
  /** The layers: health of the watched ones, and the traffic of this process's connections. */
  layer: {
    layers: Array<
      { alias: string; up: boolean; reason: string; since: number }
    >;
    published: number;
    received: number;
    resyncs: number;
    lagP50Ms: number | undefined;
  };
  /** Totals: bytes sent, frames dropped for slow clients, slow clients closed. */
  totals: { sentBytes: number; dropped: number; slowCloses: number };
}

/** Takes snapshots of `metrics`, remembering the last counters to compute rates. */
export class SnapshotTaker {
  #last = new Map<string, number>();
  #lastAt = 0;

  /** Reads `metrics`. */
  constructor(readonly metrics: ServerMetrics) {}

  /** A snapshot now (reads the queue depths first). */
  async take(): Promise<InspectorSnapshot> {
    const m = this.metrics;
    await m.collect();
    const now = Date.now();
    const seconds = this.#lastAt ? Math.max(0.001, (now - this.#lastAt) / 1000) : 0;
    this.#lastAt = now;
    const byConsumer: Record<string, number> = {};
    const list: ConnectionRow[] = [];
    const groups = new Map<string, number>();
    for (const c of m.connections) {
      byConsumer[c.cls.name] = (byConsumer[c.cls.name] ?? 0) + 1;
      if (list.length < SNAPSHOT_LIMIT) {
        list.push({
          consumer: c.cls.name,
          channel: c.channelName,
          groups: c.consumer.groups.slice(0, 10),
          subscriptions: c.subscriptions.length,
          buffered: c.bufferedBytes,
        });
      }
      for (const g of c.consumer.groups) {
        if (groups.has(g) || groups.size < 10 * SNAPSHOT_LIMIT) {
          groups.set(g, (groups.get(g) ?? 0) + 1);
        }
      }
    }
    const rates = new Map<string, ActionRate>();
    const rate = (action: string) => {
      let r = rates.get(action);
      if (!r) {
        rates.set(
          action,
          r = {
            action,
            inPerSecond: 0,
            outPerSecond: 0,
            inTotal: 0,
            outTotal: 0,
          },
        );
      }
      return r;
    };
    for (
      const [family, key] of [[m.framesReceived, "in"], [
        m.framesSent,
        "out",
      ]] as const
    ) {
      for (const { values, child } of family.children()) {
        const total = (child as Counter).value;
        const id = `${key}:${values[0]}`;
        const before = this.#last.get(id) ?? total;
        this.#last.set(id, total);
        const r = rate(values[0]);
        const perSecond = seconds ? (total - before) / seconds : 0;
        if (key === "in") [r.inTotal, r.inPerSecond] = [total, perSecond];
        else [r.outTotal, r.outPerSecond] = [total, perSecond];
      }
    }
    const lag = m.layerLag;
    return {
      at: now,
      connections: { total: m.connections.size, byConsumer, list },
      groups: [...groups].map(([group, members]) => ({ group, members }))
        .sort((a, b) => b.members - a.members).slice(0, SNAPSHOT_LIMIT),
      rates: [...rates.values()]
        .sort((a, b) =>
          b.inPerSecond + b.outPerSecond - a.inPerSecond - a.outPerSecond ||
          b.inTotal + b.outTotal - a.inTotal - a.outTotal
        )
        .slice(0, SNAPSHOT_LIMIT),
      errors: [...m.recentErrors].reverse().slice(0, 20),
      jobs: {
        queues: m.queues.map((q) => ({
          name: q.name,
          ...q.depth,
          error: q.error,
        })),
        finished: m.jobsFinished.children().slice(0, SNAPSHOT_LIMIT).map((
          { values, child },
        ) => ({
          name: values[0],
          outcome: values[1],
          count: child.value,
        })),
      },
      layer: {
        layers: [...m.layers].map(([alias, h]) => ({ alias, ...h })),
        published: m.layerPublished.value,
        received: m.layerMessages.children().reduce(
          (n, { child }) => n + child.value,
          0,
        ),
        resyncs: m.resyncs.value,
        lagP50Ms: quantileMs(lag.bounds, lag.counts, lag.count, 0.5),
      },
      totals: {
        sentBytes: m.sentBytes.value,
        dropped: m.slowDropped.value,
        slowCloses: m.slowCloses.value,
      },
    };
  }
}

/** The upper bound (in ms) of the bucket holding quantile `q`, or undefined without data. */
function quantileMs(
  bounds: readonly number[],
  counts: Float64Array,
  count: number,
  q: number,
): number | undefined {
  if (!count) return undefined;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= q * count) {
      return i < bounds.length ? bounds[i] * 1000 : Infinity;
    }
  }
  return undefined;
}

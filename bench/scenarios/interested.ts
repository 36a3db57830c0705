/**
 * "Only interested processes receive": 4 server processes, groups spread over them (each group's
 * members live in one process), one sender; deliveries per server CPU-second. Rows: the Redis
 * pub/sub layer on a Redis Cluster (sharded pub/sub) and on one standalone Redis, both against
 * the same layer where every process hears every group (one extra member per foreign group: what
 * an adapter that publishes everything on one channel costs).
 *
 * @module
 */
import { type Child, deno, type Row } from "../lib.ts";
import { best, type Ctx, load, windows } from "./common.ts";
import { skipped } from "./cross.ts";
import { RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";
import { startRedisCluster } from "../../testing/redis_cluster.ts";

const SERVERS = 4;
const GROUPS = 40;
const MEMBERS = 1;

interface Result {
  deliveries: number;
  wasted: number;
  cpuS: number;
  perCpuS: number;
  seconds: number;
}

async function runOnce(
  target: { REDIS_URL?: string; REDIS_CLUSTER_URLS?: string },
  everyone: boolean,
  messages: number,
): Promise<Result> {
  const prefix = `bi${crypto.randomUUID().slice(0, 8)}`;
  const groups = Array.from({ length: GROUPS }, (_, i) => `g${i}`);
  const servers: Child[] = [];
  const perGroup = messages / GROUPS;
  try {
    for (let s = 0; s < SERVERS; s++) {
      const mine = groups.filter((_, i) => i % SERVERS === s);
      servers.push(
        await deno("servers/group_server.ts", [], {
          env: {
            ...target,
            PREFIX: prefix,
            GROUPS: mine.join(","),
            SINK_GROUPS: everyone ? groups.filter((g) => !mine.includes(g)).join(",") : "",
            MEMBERS: String(MEMBERS),
            EXPECTED: String(perGroup * mine.length * MEMBERS),
          },
          readyTimeoutMs: 60_000,
        }),
      );
    }
    const sender = new RedisPubSubChannelLayer({
      ...(target.REDIS_CLUSTER_URLS
        ? { cluster: { rootNodes: target.REDIS_CLUSTER_URLS.split(",") } }
        : { url: target.REDIS_URL }),
      prefix,
    });
    const started = performance.now();
    try {
      let next = 0;
      const worker = async () => {
        while (next < messages) {
          const i = next++;
          await sender.groupSend(groups[i % GROUPS], {
            type: "b",
            i,
            text: "x".repeat(512),
          });
        }
      };
      await Promise.all(Array.from({ length: 32 }, worker));
    } finally {
      await sender.close();
    }
    const done = await Promise.all(servers.map((s) => s.next("DONE", 120_000)));
    const seconds = (performance.now() - started) / 1000;
    const stats = done.map((l) => JSON.parse(l.slice(5)));
    const deliveries = stats.reduce((a, s) => a + s.own, 0);
    const wasted = stats.reduce((a, s) => a + s.sink, 0);
    const cpuS = stats.reduce((a, s) => a + s.cpuMs, 0) / 1000;
    return { deliveries, wasted, cpuS, perCpuS: deliveries / cpuS, seconds };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/**
 * The cross-process broadcast of bench/scenarios/cross.ts (2 Switchboard servers, receivers on
 * both, one room) with the layer on `env`'s engine; best of `rounds`.
 */
async function crossOn(
  ctx: Ctx,
  env: Record<string, string>,
  label: string,
): Promise<Record<string, number>> {
  const { warmup, duration } = windows(ctx);
  const perServer = ctx.quick ? 100 : 500;
  const results: Record<string, number>[] = [];
  for (let r = 0; r < 1; r++) {
    const servers: Child[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        servers.push(await deno("servers/switchboard.ts", ["cross"], { env }));
      }
      const res = await load("fanout", {
        proto: "sb",
        "recv-urls": servers.map((s) => `ws://127.0.0.1:${s.port}/ws/room`).join(","),
        "send-url": `ws://127.0.0.1:${servers[0].port}/ws/sender`,
        receivers: perServer * 2,
        window: 4,
        warmup,
        duration,
      }, servers);
      ctx.log(
        `  cross ${label}: ${Math.round(res.deliveriesPerSec)} deliveries/s, ` +
          `broadcast p50 ${res.p50.toFixed(1)} ms, servers' CPU ${res.serverCpu.toFixed(2)} s`,
      );
      results.push(res);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  }
  return best(results, "deliveriesPerSec");
}

/** Runs the scenario on a private cluster (started here) and the runner's private Redis. */
export async function interested(ctx: Ctx): Promise<Row[]> {
  const scenario = `group broadcast, ${SERVERS} processes, ${GROUPS} groups spread over them`;
  if (!ctx.redis) return [skipped(scenario, "no redis-server on this machine")];
  const messages = ctx.quick ? 2_000 : 20_000;
  await using cluster = await startRedisCluster();
  const targets = {
    cluster: { REDIS_CLUSTER_URLS: cluster.urls.join(",") },
    standalone: { REDIS_URL: ctx.redis.url },
  };
  const rows: Row[] = [];
  const onCluster = await crossOn(ctx, targets.cluster, "Redis Cluster");
  const onOne = await crossOn(ctx, targets.standalone, "one Redis");
  rows.push({
    scenario: `cross-process broadcast, 2 × ${ctx.quick ? 100 : 500} receivers (Redis Cluster)`,
    metric: "deliveries/s",
    unit: "deliveries/s",
    switchboard: onCluster.deliveriesPerSec,
    baselineName: "Switchboard on one Redis",
    baseline: onOne.deliveriesPerSec,
    ratio: onCluster.deliveriesPerSec / onOne.deliveriesPerSec,
    cpuRatio: onCluster.perServerCpuSecond / onOne.perServerCpuSecond,
    target: "-",
    met: true,
    notes: `all-received p50: cluster ${onCluster.p50.toFixed(1)} ms, one Redis ${
      onOne.p50.toFixed(1)
    } ms`,
  });
  for (const [name, target] of Object.entries(targets)) {
    const runs: Record<"interested" | "everyone", Result[]> = {
      interested: [],
      everyone: [],
    };
    for (let r = 0; r < (ctx.quick ? 1 : 2); r++) {
      for (const mode of ["interested", "everyone"] as const) {
        const res = await runOnce(target, mode === "everyone", messages);
        ctx.log(
          `  ${name} ${mode}: ${res.deliveries} deliveries (${res.wasted} to foreign groups) ` +
            `in ${res.seconds.toFixed(2)} s, servers' CPU ${res.cpuS.toFixed(2)} s → ` +
            `${Math.round(res.perCpuS)} deliveries per server CPU-second`,
        );
        runs[mode].push(res);
      }
    }
    const pick = (list: Result[]) => list.reduce((a, b) => (b.perCpuS > a.perCpuS ? b : a));
    const s = pick(runs.interested);
    const b = pick(runs.everyone);
    rows.push({
      scenario: `${scenario} (${
        name === "cluster" ? "Redis Cluster, sharded pub/sub" : "one Redis"
      })`,
      metric: "deliveries per server CPU-second",
      unit: "deliveries/CPU-s",
      switchboard: s.perCpuS,
      baselineName: "every process hears every group",
      baseline: b.perCpuS,
      ratio: s.perCpuS / b.perCpuS,
      target: "-",
      met: true,
      notes: `${messages} group sends × ${MEMBERS} members; interested-only: ${s.wasted} ` +
        `deliveries to foreign groups, every-process: ${b.wasted}`,
    });
  }
  return rows;
}

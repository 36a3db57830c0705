/**
 * Cross-process broadcast: two server processes sharing one Redis, 500 receivers on each; the
 * sender is on the first. Switchboard uses the Redis pub/sub layer; the baseline is Socket.IO 4
 * with `@socket.io/redis-adapter` (`io.to("room").emit`), same shape and the same client. A third
 * run, raw Deno sockets over plain node-redis pub/sub, shows the floor on this machine.
 *
 * @module
 */
import { type Child, deno, node, type Row } from "../lib.ts";
import { best, cpuRatio, type Ctx, load, windows } from "./common.ts";

/** Runs the cross-process scenario; needs the private Redis. */
export async function cross(ctx: Ctx): Promise<Row[]> {
  const scenario = `cross-process broadcast, 2 × ${ctx.quick ? 100 : 500} receivers (Redis)`;
  if (!ctx.redis) {
    return [skipped(scenario, "no redis-server on this machine")];
  }
  const { warmup, duration, rounds } = windows(ctx);
  const perServer = ctx.quick ? 100 : 500;
  const env = { REDIS_URL: ctx.redis.url };
  const results: Record<string, Record<string, number>[]> = {
    switchboard: [],
    socketio: [],
    raw: [],
  };
  const runOne = async (name: "switchboard" | "socketio" | "raw") => {
    const servers: Child[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        servers.push(
          name === "switchboard"
            ? await deno("servers/switchboard.ts", ["cross"], { env })
            : name === "raw"
            ? await deno("servers/raw_deno.ts", ["cross"], { env })
            : await node("servers/socketio.mjs", ["cross"], { env }),
        );
      }
      const urls = servers.map((s) =>
        name === "socketio"
          ? `ws://127.0.0.1:${s.port}/socket.io/?EIO=4&transport=websocket&role=recv`
          : `ws://127.0.0.1:${s.port}/ws/room`
      );
      const send = name !== "socketio"
        ? `ws://127.0.0.1:${servers[0].port}/ws/sender`
        : `ws://127.0.0.1:${servers[0].port}/socket.io/?EIO=4&transport=websocket&role=send`;
      const res = await load("fanout", {
        proto: name === "socketio" ? "sio" : "sb",
        "recv-urls": urls.join(","),
        "send-url": send,
        receivers: perServer * 2,
        window: 4,
        warmup,
        duration,
      }, servers);
      ctx.log(
        `  cross ${name}: ${Math.round(res.deliveriesPerSec)} deliveries/s, ` +
          `broadcast p50 ${res.p50.toFixed(1)} ms, servers' CPU ${res.serverCpu.toFixed(2)} s`,
      );
      results[name].push(res);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  };
  const order = ["switchboard", "socketio", "raw"] as const;
  // Two rounds: each one starts six server processes.
  for (let r = 0; r < Math.min(rounds, 2); r++) {
    for (const name of r % 2 ? [...order].reverse() : order) await runOne(name);
  }
  const s = best(results.switchboard, "deliveriesPerSec");
  const b = best(results.socketio, "deliveriesPerSec");
  const ratio = s.deliveriesPerSec / b.deliveriesPerSec;
  const raw = best(results.raw, "deliveriesPerSec");
  return [{
    scenario,
    metric: "deliveries/s",
    unit: "deliveries/s",
    switchboard: s.deliveriesPerSec,
    baselineName: "Socket.IO 4 + @socket.io/redis-adapter",
    baseline: b.deliveriesPerSec,
    ratio,
    cpuRatio: cpuRatio(results.switchboard, results.socketio),
    target: "≥ 1.2×",
    met: ratio >= 1.2,
    notes: `all-received p50: Switchboard ${s.p50.toFixed(1)} ms, Socket.IO ${b.p50.toFixed(1)} ms`,
  }, {
    scenario,
    metric: "deliveries/s",
    unit: "deliveries/s",
    switchboard: s.deliveriesPerSec,
    baselineName: "raw Deno sockets + node-redis pub/sub (floor)",
    baseline: raw.deliveriesPerSec,
    ratio: s.deliveriesPerSec / raw.deliveriesPerSec,
    cpuRatio: cpuRatio(results.switchboard, results.raw),
    target: "≥ 0.85×",
    met: s.deliveriesPerSec / raw.deliveriesPerSec >= 0.85,
    notes: `raw Deno is ${
      (raw.deliveriesPerSec / b.deliveriesPerSec).toFixed(2)
    }× Socket.IO here: the ceiling for any Deno library on this machine`,
  }];
}

/** A row for a scenario that could not run. */
export function skipped(scenario: string, why: string): Row {
  return {
    scenario,
    metric: "-",
    unit: "",
    switchboard: NaN,
    baselineName: "-",
    baseline: NaN,
    ratio: NaN,
    target: "-",
    met: false,
    notes: `skipped: ${why}`,
  };
}

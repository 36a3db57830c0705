/**
 * Cross-process broadcast: two server processes sharing one Redis, 500 receivers on each; the
 * sender is on the first. Switchboard uses the Redis pub/sub layer; the baseline is Socket.IO 4
 * with `@socket.io/redis-adapter` (`io.to("room").emit`), same shape and the same client. Raw
 * sockets over plain node-redis pub/sub show the floor of each runtime on this machine. Deno
 * always; Node (the servers compiled as for the Node rows) and Bun (when found) too, each with its
 * own floor, all against the same Socket.IO runs.
 *
 * @module
 */
import { type Child, deno, node, type Row } from "../lib.ts";
import { best, cpuRatio, type Ctx, load, windows } from "./common.ts";
import { compileNodeServers } from "./node.ts";
import { bun } from "./bun.ts";
import { findBun } from "../../scripts/bun.ts";

type Runtime = "deno" | "node" | "bun";

/** Runs the cross-process scenario; needs the private Redis. */
export async function cross(ctx: Ctx): Promise<Row[]> {
  const perServer = ctx.quick ? 100 : 500;
  const scenario = (runtime: Runtime) =>
    `${runtime === "deno" ? "" : runtime === "node" ? "Node: " : "Bun: "}` +
    `cross-process broadcast, 2 × ${perServer} receivers (Redis)`;
  if (!ctx.redis) return [skipped(scenario("deno"), "no redis-server on this machine")];
  const { warmup, duration, rounds } = windows(ctx);
  const env = { REDIS_URL: ctx.redis.url };
  // The sender's handler does not await its broadcast, as the raw and Socket.IO senders do not
  // wait for Redis either: one sender's broadcasts are pipelined alike (bench/results.md, Run 9).
  const sbEnv = { ...env, SENDER_AWAIT: "0" };
  const nodeScripts = ctx.quick ? undefined : await compileNodeServers();
  const bunPath = ctx.quick ? undefined : findBun();
  const runtimes: Runtime[] = ["deno"];
  if (nodeScripts) runtimes.push("node");
  if (bunPath) runtimes.push("bun");
  /** `<runtime>:<switchboard|raw>`, or `socketio`. */
  const start = (name: string): Promise<Child> => {
    if (name === "socketio") return node("servers/socketio.mjs", ["cross"], { env });
    const [runtime, side] = name.split(":") as [Runtime, "switchboard" | "raw"];
    const e = side === "raw" ? env : sbEnv;
    if (runtime === "deno") {
      const script = side === "raw" ? "servers/raw_deno.ts" : "servers/switchboard.ts";
      return deno(script, ["cross"], { env: e });
    }
    if (runtime === "node") {
      return node(side === "raw" ? nodeScripts!.raw : nodeScripts!.switchboard, ["cross"], {
        env: e,
      });
    }
    return bun(bunPath!, side === "raw" ? "raw_bun.mjs" : "switchboard_bun.ts", ["cross"], e);
  };
  const names = ["socketio", ...runtimes.flatMap((r) => [`${r}:switchboard`, `${r}:raw`])];
  const results: Record<string, Record<string, number>[]> = {};
  for (const name of names) results[name] = [];
  const runOne = async (name: string) => {
    const servers: Child[] = [];
    try {
      for (let i = 0; i < 2; i++) servers.push(await start(name));
      const sio = name === "socketio";
      const urls = servers.map((s) =>
        sio
          ? `ws://127.0.0.1:${s.port}/socket.io/?EIO=4&transport=websocket&role=recv`
          : `ws://127.0.0.1:${s.port}/ws/room`
      );
      const send = sio
        ? `ws://127.0.0.1:${servers[0].port}/socket.io/?EIO=4&transport=websocket&role=send`
        : `ws://127.0.0.1:${servers[0].port}/ws/sender`;
      const res = await load("fanout", {
        proto: sio ? "sio" : "sb",
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
  // Two rounds: each one starts two server processes per kind of server.
  for (let r = 0; r < Math.min(rounds, 2); r++) {
    for (const name of r % 2 ? [...names].reverse() : names) await runOne(name);
  }
  const sio = best(results.socketio, "deliveriesPerSec");
  return runtimes.flatMap((runtime): Row[] => {
    const runs = results[`${runtime}:switchboard`];
    const s = best(runs, "deliveriesPerSec");
    const raw = best(results[`${runtime}:raw`], "deliveriesPerSec");
    const rawName = runtime === "deno"
      ? "raw Deno sockets"
      : runtime === "node"
      ? "raw `ws` sockets"
      : "raw Bun.serve (publish)";
    const vsSio = s.deliveriesPerSec / sio.deliveriesPerSec;
    const vsRaw = s.deliveriesPerSec / raw.deliveriesPerSec;
    const row = { scenario: scenario(runtime), metric: "deliveries/s", unit: "deliveries/s" };
    return [{
      ...row,
      switchboard: s.deliveriesPerSec,
      baselineName: "Socket.IO 4 + @socket.io/redis-adapter",
      baseline: sio.deliveriesPerSec,
      ratio: vsSio,
      cpuRatio: cpuRatio(runs, results.socketio),
      target: "≥ 1.2×",
      met: vsSio >= 1.2,
      notes: `all-received p50: Switchboard ${s.p50.toFixed(1)} ms, ` +
        `Socket.IO ${sio.p50.toFixed(1)} ms`,
    }, {
      ...row,
      switchboard: s.deliveriesPerSec,
      baselineName: `${rawName} + node-redis pub/sub (floor)`,
      baseline: raw.deliveriesPerSec,
      ratio: vsRaw,
      cpuRatio: cpuRatio(runs, results[`${runtime}:raw`]),
      target: "≥ 0.85×",
      met: vsRaw >= 0.85,
      notes: `the floor is ${(raw.deliveriesPerSec / sio.deliveriesPerSec).toFixed(2)}× ` +
        `Socket.IO here: the ceiling for any library on this runtime and machine`,
    }];
  });
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

/**
 * Echo: 50 connections, each with 4 frames in flight; a validated typed `say` in, `said` out.
 * Baselines: a raw `Deno.upgradeWebSocket` echo and Socket.IO 4 on Node, driven by the same client.
 *
 * @module
 */
import { type Child, deno, node, type Row } from "../lib.ts";
import { best, cpuRatio, type Ctx, load, windows } from "./common.ts";

/** Runs the echo scenario. */
export async function echo(ctx: Ctx): Promise<Row[]> {
  const { warmup, duration, rounds } = windows(ctx);
  const servers: Child[] = [];
  try {
    const sb = await deno("servers/switchboard.ts", ["echo"]);
    servers.push(sb);
    const raw = await deno("servers/raw_deno.ts", ["echo"]);
    servers.push(raw);
    const sio = await node("servers/socketio.mjs", ["echo"]);
    servers.push(sio);
    const targets = {
      switchboard: {
        url: `ws://127.0.0.1:${sb.port}/ws/echo`,
        proto: "sb",
        server: sb,
        expect: '{"action":"said"',
      },
      raw: {
        url: `ws://127.0.0.1:${raw.port}/`,
        proto: "sb",
        server: raw,
        expect: '{"action":"say"',
      },
      socketio: {
        url: `ws://127.0.0.1:${sio.port}/socket.io/?EIO=4&transport=websocket`,
        proto: "sio",
        server: sio,
        expect: '42["said"',
      },
    };
    const results: Record<string, Record<string, number>[]> = {
      switchboard: [],
      raw: [],
      socketio: [],
    };
    // Alternate the order between rounds so drift on a shared machine hits everyone alike.
    const order = ["switchboard", "raw", "socketio"] as const;
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 ? [...order].reverse() : order) {
        const t = targets[name];
        const res = await load("echo", {
          url: t.url,
          proto: t.proto,
          expect: t.expect,
          conns: 50,
          window: 4,
          warmup,
          duration,
        }, [t.server]);
        ctx.log(
          `  echo ${name}: ${Math.round(res.msgsPerSec)} msg/s, p50 ${res.p50.toFixed(2)} ms, ` +
            `server CPU ${res.serverCpu.toFixed(2)} s, client CPU ${res.clientCpu.toFixed(2)} s`,
        );
        results[name].push(res);
      }
    }
    const s = best(results.switchboard, "msgsPerSec");
    const b = best(results.raw, "msgsPerSec");
    const i = best(results.socketio, "msgsPerSec");
    const note = (x: Record<string, number>) =>
      `p50 ${x.p50.toFixed(2)} ms; ${Math.round(x.perServerCpuSecond)} msg per server CPU-second`;
    return [
      {
        scenario: "echo, 50 connections",
        metric: "msg/s",
        unit: "msg/s",
        switchboard: s.msgsPerSec,
        baselineName: "raw Deno.upgradeWebSocket",
        baseline: b.msgsPerSec,
        ratio: s.msgsPerSec / b.msgsPerSec,
        cpuRatio: cpuRatio(results.switchboard, results.raw),
        target: "≥ 0.7×",
        met: s.msgsPerSec / b.msgsPerSec >= 0.7,
        notes: `Switchboard ${note(s)}; raw ${note(b)}`,
      },
      {
        scenario: "echo, 50 connections",
        metric: "msg/s",
        unit: "msg/s",
        switchboard: s.msgsPerSec,
        baselineName: "Socket.IO 4 (Node)",
        baseline: i.msgsPerSec,
        ratio: s.msgsPerSec / i.msgsPerSec,
        cpuRatio: cpuRatio(results.switchboard, results.socketio),
        target: "≥ 1.5×",
        met: s.msgsPerSec / i.msgsPerSec >= 1.5,
        notes: `Socket.IO ${note(i)}; raw Deno is ${
          (b.msgsPerSec / i.msgsPerSec).toFixed(2)
        }× Socket.IO here, the ceiling for any library on Deno's WebSocket`,
      },
    ];
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

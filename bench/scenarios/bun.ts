/**
 * The Bun rows: echo (50 connections, 4 in flight) and fan-out (1 → 1,000, 4 broadcasts in
 * flight) with Switchboard on Bun (adapters/bun, native fan-out) against raw `Bun.serve` (echo:
 * send back; fan-out: one `server.publish`) and against Socket.IO 4 on Node (the "Bun vs
 * Socket.IO" targets), the same load generator; and fan-out with native
 * publish against Switchboard on Bun with `nativeFanout: false` (the loop over sockets). Skipped
 * (no row) when no Bun is found (`.ci/bun.sh` installs it from npm).
 *
 * @module
 */
import { type Child, node, type Row, spawn } from "../lib.ts";
import {
  alternate,
  best,
  cpuRatio,
  type Ctx,
  DEEP_WINDOW,
  idleRow,
  load,
  windows,
} from "./common.ts";
import { bunArgs, findBun } from "../../scripts/bun.ts";

/** Runs `bench/servers/<script>` on the Bun at `path`. */
export function bun(
  path: string,
  script: string,
  args: string[],
  env?: Record<string, string>,
): Promise<Child> {
  return spawn(path, bunArgs(`bench/servers/${script}`, ...args), { label: `bun ${script}`, env });
}

/** Runs the Bun scenarios. */
export async function bunRows(ctx: Ctx): Promise<Row[]> {
  const path = findBun();
  if (!path) {
    ctx.log("  bun: not found, no Bun rows (source .ci/bun.sh; ensure_bun)");
    return [];
  }
  const { warmup, duration, rounds } = windows(ctx);
  const receivers = ctx.quick ? 200 : 1000;
  const rows: Row[] = [];
  const servers: Child[] = [];
  try {
    // `fanout-deep`: the fan-out servers again, DEEP_WINDOW broadcasts in flight.
    for (const run of ["echo", "fanout", "fanout-deep"] as const) {
      const mode = run === "echo" ? "echo" : "fanout";
      const inFlight = run === "fanout-deep" ? DEEP_WINDOW : 4;
      const sb = await bun(path, "switchboard_bun.ts", [mode]);
      const raw = await bun(path, "raw_bun.mjs", [mode]);
      servers.push(sb, raw);
      const sio = await node("servers/socketio.mjs", [mode]);
      servers.push(sio);
      const order: Array<readonly [string, Child]> = [
        ["switchboard", sb],
        ["raw", raw],
        ["socketio", sio],
      ];
      if (mode === "fanout") {
        const loop = await bun(path, "switchboard_bun.ts", [mode], { NATIVE_FANOUT: "0" });
        servers.push(loop);
        order.push(["loop", loop]);
      }
      const results = await alternate(rounds, order, async (name, server) => {
        const base = `ws://127.0.0.1:${server.port}`;
        const sioUrl = `${base}/socket.io/?EIO=4&transport=websocket`;
        const sioRun = name === "socketio";
        const res = mode === "echo"
          ? await load("echo", {
            url: sioRun ? sioUrl : name === "switchboard" ? `${base}/ws/echo` : `${base}/`,
            proto: sioRun ? "sio" : "sb",
            expect: sioRun
              ? '42["said"'
              : name === "switchboard"
              ? '{"action":"said"'
              : '{"action":"say"',
            conns: 50,
            window: 4,
            warmup,
            duration,
          }, [server])
          : await load("fanout", {
            ...(sioRun ? { proto: "sio" } : {}),
            "recv-urls": sioRun ? `${sioUrl}&role=recv` : `${base}/ws/room`,
            "send-url": sioRun ? `${sioUrl}&role=send` : `${base}/ws/sender`,
            receivers,
            window: inFlight,
            warmup,
            duration,
          }, [server]);
        const rate = mode === "echo" ? res.msgsPerSec : res.deliveriesPerSec;
        ctx.log(
          `  bun ${run} ${name}: ${Math.round(rate)}/s, server CPU ${
            res.serverCpu.toFixed(2)
          } s, ` +
            `client CPU ${res.clientCpu.toFixed(2)} s`,
        );
        return res;
      });
      const key = mode === "echo" ? "msgsPerSec" : "deliveriesPerSec";
      const s = best(results.switchboard, key);
      const b = best(results.raw, key);
      const ratio = s[key] / b[key];
      const target = mode === "echo" ? 0.7 : 0.8;
      rows.push({
        scenario: mode === "echo"
          ? "Bun: echo, 50 connections"
          : `Bun: fan-out, 1 → ${receivers} (memory layer, native publish), ${inFlight} in flight`,
        metric: mode === "echo" ? "msg/s" : "deliveries/s",
        unit: mode === "echo" ? "msg/s" : "deliveries/s",
        switchboard: s[key],
        baselineName: mode === "echo" ? "raw Bun.serve echo" : "raw Bun server.publish",
        baseline: b[key],
        ratio,
        cpuRatio: cpuRatio(results.switchboard, results.raw),
        target: `≥ ${target}×`,
        met: ratio >= target,
        notes: `p50: Switchboard ${s.p50.toFixed(1)} ms, raw ${b.p50.toFixed(1)} ms`,
      });
      const i = best(results.socketio, key);
      const sioTarget = mode === "echo" ? 1.5 : 3;
      rows.push({
        scenario: mode === "echo"
          ? "Bun: echo, 50 connections"
          : `Bun: fan-out, 1 → ${receivers} (memory layer, native publish), ${inFlight} in flight`,
        metric: mode === "echo" ? "msg/s" : "deliveries/s",
        unit: mode === "echo" ? "msg/s" : "deliveries/s",
        switchboard: s[key],
        baselineName: "Socket.IO 4 (Node)",
        baseline: i[key],
        ratio: s[key] / i[key],
        cpuRatio: cpuRatio(results.switchboard, results.socketio),
        target: `≥ ${sioTarget}×`,
        met: s[key] / i[key] >= sioTarget,
        notes: `Socket.IO p50 ${i.p50.toFixed(1)} ms`,
      });
      if (mode === "fanout") {
        const l = best(results.loop, key);
        rows.push({
          scenario:
            `Bun: fan-out, 1 → ${receivers}, native publish vs the loop, ${inFlight} in flight`,
          metric: "deliveries/s",
          unit: "deliveries/s",
          switchboard: s[key],
          baselineName: "Switchboard on Bun, nativeFanout: false",
          baseline: l[key],
          ratio: s[key] / l[key],
          cpuRatio: cpuRatio(results.switchboard, results.loop),
          target: "> 1×",
          met: s[key] > l[key],
          notes: `p50: native ${s.p50.toFixed(1)} ms, loop ${l.p50.toFixed(1)} ms`,
        });
      }
      await Promise.all(servers.map((c) => c.stop()));
      servers.length = 0;
    }
    // Raw `Bun.serve` keeps no object of its own per socket (uWebSockets holds it natively), so
    // this row compares a connection's whole JavaScript state with none.
    rows.push(
      ...await idleRow(
        ctx,
        {
          scenario: "Bun: idle connections",
          baselineName: "raw Bun.serve sockets",
          log: "bun",
          note: " (raw keeps no JS object per socket)",
        },
        async (which) =>
          which === "raw"
            ? [await bun(path, "raw_bun.mjs", ["idle"]), "/"]
            : [await bun(path, "switchboard_bun.ts", ["idle"]), "/ws/idle"],
      ),
    );
    return rows;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

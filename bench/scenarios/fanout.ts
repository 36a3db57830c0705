/**
 * Fan-out: one sender, 1,000 receivers in one group on the in-memory layer; the next broadcast
 * goes out when every receiver has the previous one (4 in flight, then `DEEP_WINDOW`). Baseline:
 * a raw Deno server that loops over its sockets.
 *
 * @module
 */
import { type Child, deno, type Row } from "../lib.ts";
import { alternate, best, cpuRatio, type Ctx, DEEP_WINDOW, fanoutLoad, windows } from "./common.ts";

/** Runs the fan-out scenario. */
export async function fanout(ctx: Ctx): Promise<Row[]> {
  const { rounds } = windows(ctx);
  const receivers = ctx.quick ? 200 : 1000;
  const servers: Child[] = [];
  try {
    const sb = await deno("servers/switchboard.ts", ["fanout"]);
    servers.push(sb);
    const raw = await deno("servers/raw_deno.ts", ["fanout"]);
    servers.push(raw);
    const rows: Row[] = [];
    for (const window of [4, DEEP_WINDOW]) {
      const results = await alternate(
        rounds,
        [["switchboard", sb], ["raw", raw]],
        async (name, server) => {
          const res = await fanoutLoad(ctx, server, receivers, window);
          ctx.log(
            `  fanout ${name} (${window} in flight): ${Math.round(res.deliveriesPerSec)} ` +
              `deliveries/s, broadcast p50 ${res.p50.toFixed(1)} ms, server CPU ` +
              `${res.serverCpu.toFixed(2)} s, client CPU ${res.clientCpu.toFixed(2)} s`,
          );
          return res;
        },
      );
      rows.push(fanoutRow(receivers, window, results));
    }
    return rows;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

function fanoutRow(
  receivers: number,
  window: number,
  results: Record<string, Record<string, number>[]>,
): Row {
  const s = best(results.switchboard, "deliveriesPerSec");
  const b = best(results.raw, "deliveriesPerSec");
  const ratio = s.deliveriesPerSec / b.deliveriesPerSec;
  return {
    scenario: `fan-out, 1 → ${receivers} (memory layer), ${window} in flight`,
    metric: "deliveries/s",
    unit: "deliveries/s",
    switchboard: s.deliveriesPerSec,
    baselineName: "raw loop over Deno sockets",
    baseline: b.deliveriesPerSec,
    ratio,
    cpuRatio: cpuRatio(results.switchboard, results.raw),
    target: "≥ 0.85×",
    met: ratio >= 0.85,
    notes: `all-received p50: Switchboard ${s.p50.toFixed(1)} ms, raw ${b.p50.toFixed(1)} ms`,
  };
}

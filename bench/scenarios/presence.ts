/**
 * Presence (issue #22): 10,000 members in one room with diffs on, 100 joins per second. Rows:
 * diff frames per member socket per second against the unbatched baseline (one frame per join per
 * socket, the Pusher failure mode: the join rate measured in the same run), on the in-memory
 * backend and, with the private Redis, on the Redis backend; notes carry server CPU and
 * `presenceStats` latency. One process (bench/servers/presence_room.ts), in-process sockets.
 *
 * @module
 */
import { deno, type Row } from "../lib.ts";
import type { Ctx } from "./common.ts";

/** Runs the presence scenario. */
export async function presence(ctx: Ctx): Promise<Row[]> {
  const members = ctx.quick ? 500 : 10_000;
  const seconds = ctx.quick ? 1 : 3;
  const rows: Row[] = [];
  const backends: Array<[string, string[]]> = [["memory", []]];
  if (ctx.redis) backends.push(["Redis", ["--redis", ctx.redis.url]]);
  for (const [name, extra] of backends) {
    const child = await deno("servers/presence_room.ts", [
      "--members",
      String(members),
      "--rate",
      "100",
      "--seconds",
      String(seconds),
      ...extra,
    ], { ready: false });
    const line = await child.next("RESULT", 180_000);
    await child.status;
    const r = JSON.parse(line.slice("RESULT ".length)) as Record<
      string,
      number
    >;
    ctx.log(
      `  presence (${name}): ${r.framesPerSocketPerSecond.toFixed(2)} frames/socket/s at ` +
        `${r.joinsPerSecond.toFixed(0)} joins/s, CPU ${r.cpuPercent.toFixed(0)}%, ` +
        `presenceStats p99 ${r.statsDuringP99.toFixed(3)} ms`,
    );
    const ratio = r.framesPerSocketPerSecond / r.joinsPerSecond;
    rows.push({
      scenario: `presence (${name}), ${members.toLocaleString("en-US")} members, 100 joins/s`,
      metric: "diff frames/socket/s",
      unit: "frames/s",
      switchboard: r.framesPerSocketPerSecond,
      baselineName: "unbatched (1 frame per join)",
      baseline: r.joinsPerSecond,
      ratio,
      target: "≤ 0.05× (≤ 4/s)",
      met: r.framesPerSocketPerSecond <= 4.5,
      notes: `server CPU ${r.cpuPercent.toFixed(0)}% of one core during the window; ` +
        `presenceStats p50/p99 ${r.statsDuringP50.toFixed(3)}/${
          r.statsDuringP99.toFixed(3)
        } ms under load, ${r.statsP50.toFixed(3)}/${r.statsP99.toFixed(3)} ms idle; ` +
        `${members} members connected in ${r.connectSeconds.toFixed(1)} s, heap ${
          r.heapMiB.toFixed(0)
        } MiB`,
    });
  }
  return rows;
}

/**
 * Idle connections: 5,000 open sockets, memory per connection read from the server after a GC.
 * Switchboard's consumer is an ordinary one on the default in-memory layer (a layer channel and a
 * receive loop per connection). Baseline: raw Deno sockets kept in a Set.
 *
 * Three rows: V8's default heap sizing (the target's row); the same servers with 5,000 more
 * sockets opened on top (memory per connection over the 10,000, and what the second 5,000 added
 * alone in the notes: see `twiceAsManyRow` in common.ts); and both servers with the young
 * generation capped at 1 MiB (`--max-semi-space-size=1`). During a burst of connections V8 grows
 * its young generation towards its maximum (two semi-spaces of up to 16 MiB), more the more each
 * connection allocates while it is set up; that committed space shows in RSS but is bounded,
 * the same at 5,000 connections as at 50,000, so the capped row is what each connection keeps.
 * How far it grows depends on where it starts: modules loaded at startup grow it too, so neither
 * server loads a module its idle mode does not use (the Redis, NATS and metrics adapters and
 * node-redis are loaded only in the modes that use them). The servers' `/mem` answers V8's space
 * sizes, and the log prints the young generation's growth per connection (`new space`).
 *
 * @module
 */
import { deno, type Row } from "../lib.ts";
import { type Ctx, load, twiceAsManyRow } from "./common.ts";

/** Runs the idle-connections scenario. */
export async function idle(ctx: Ctx): Promise<Row[]> {
  const conns = ctx.quick ? 1000 : 5000;
  const measure = async (script: string, path: string, flags: string, more: number) => {
    const server = await deno(script, ["idle"], { env: { V8_FLAGS: flags } });
    try {
      const res = await load("idle", {
        url: `ws://127.0.0.1:${server.port}${path}`,
        "mem-url": `http://127.0.0.1:${server.port}/mem`,
        conns,
        more,
      }, [server]);
      ctx.log(
        `  idle ${script} (${flags}): ${res.connections} open, RSS ${
          (res.rssPerConn / 1024).toFixed(1)
        } KiB/conn, ` +
          `heap ${(res.heapPerConn / 1024).toFixed(1)} KiB/conn, new space ${
            (res.newSpacePerConn / 1024).toFixed(1)
          } KiB/conn, connected in ${res.connectSeconds.toFixed(1)} s${
            more ? `; ${more} more: RSS ${(res.marginalRssPerConn / 1024).toFixed(1)} KiB/conn` : ""
          }`,
      );
      return res;
    } finally {
      await server.stop();
    }
  };
  const rows: Row[] = [];
  for (const capped of [false, true]) {
    const flags = capped ? "--expose-gc,--max-semi-space-size=1" : "--expose-gc";
    // RSS moves with allocator state: alternate the two servers and take each one's median.
    const rounds = ctx.quick ? 1 : 3;
    const sb: Record<string, number>[] = [];
    const raw: Record<string, number>[] = [];
    const more = capped ? 0 : conns; // the second reading: with the default heap sizing only
    for (let r = 0; r < rounds; r++) {
      if (r % 2) raw.push(await measure("servers/raw_deno.ts", "/", flags, more));
      sb.push(await measure("servers/switchboard.ts", "/ws/idle", flags, more));
      if (!(r % 2)) raw.push(await measure("servers/raw_deno.ts", "/", flags, more));
    }
    const median = (xs: Record<string, number>[]) =>
      [...xs].sort((a, b) => a.rssPerConn - b.rssPerConn)[Math.floor(xs.length / 2)];
    const s = median(sb);
    const b = median(raw);
    const ratio = s.rssPerConn / b.rssPerConn;
    rows.push({
      scenario: `idle connections, ${conns.toLocaleString("en-US")} sockets${
        capped ? ", young generation capped at 1 MiB" : ""
      }`,
      metric: "RSS bytes/connection",
      unit: "B/conn",
      switchboard: s.rssPerConn,
      baselineName: "raw Deno sockets",
      baseline: b.rssPerConn,
      ratio,
      target: capped ? "-" : "≤ 1.3×",
      met: ratio <= 1.3,
      notes: `median of ${rounds} alternating runs each; JS heap per connection: Switchboard ${
        (s.heapPerConn / 1024).toFixed(1)
      } KiB, raw ${(b.heapPerConn / 1024).toFixed(1)} KiB${
        capped ? " (V8 flag --max-semi-space-size=1 on both servers)" : ""
      }`,
    });
    if (!capped) rows.push(twiceAsManyRow("idle connections", "raw Deno sockets", conns, sb, raw));
  }
  return rows;
}

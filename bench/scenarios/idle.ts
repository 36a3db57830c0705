/**
 * Idle connections: 5,000 open sockets, memory per connection read from the server after a GC.
 * Switchboard's consumer is an ordinary one on the default in-memory layer (a layer channel and a
 * receive loop per connection). Baseline: raw Deno sockets kept in a Set.
 *
 * @module
 */
import { deno, type Row } from "../lib.ts";
import { type Ctx, load } from "./common.ts";

/** Runs the idle-connections scenario. */
export async function idle(ctx: Ctx): Promise<Row[]> {
  const conns = ctx.quick ? 1000 : 5000;
  const env = { V8_FLAGS: "--expose-gc" };
  const measure = async (script: string, path: string) => {
    const server = await deno(script, ["idle"], { env });
    try {
      const res = await load("idle", {
        url: `ws://127.0.0.1:${server.port}${path}`,
        "mem-url": `http://127.0.0.1:${server.port}/mem`,
        conns,
      }, [server]);
      ctx.log(
        `  idle ${script}: ${res.connections} open, RSS ${
          (res.rssPerConn / 1024).toFixed(1)
        } KiB/conn, ` +
          `heap ${(res.heapPerConn / 1024).toFixed(1)} KiB/conn, connected in ${
            res.connectSeconds.toFixed(1)
          } s`,
      );
      return res;
    } finally {
      await server.stop();
    }
  };
  // RSS moves with allocator state: alternate the two servers and take each one's median.
  const rounds = ctx.quick ? 1 : 3;
  const sb: Record<string, number>[] = [];
  const raw: Record<string, number>[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2) raw.push(await measure("servers/raw_deno.ts", "/"));
    sb.push(await measure("servers/switchboard.ts", "/ws/idle"));
    if (!(r % 2)) raw.push(await measure("servers/raw_deno.ts", "/"));
  }
  const median = (xs: Record<string, number>[]) =>
    [...xs].sort((a, b) => a.rssPerConn - b.rssPerConn)[Math.floor(xs.length / 2)];
  const s = median(sb);
  const b = median(raw);
  const ratio = s.rssPerConn / b.rssPerConn;
  return [{
    scenario: `idle connections, ${conns.toLocaleString("en-US")} sockets`,
    metric: "RSS bytes/connection",
    unit: "B/conn",
    switchboard: s.rssPerConn,
    baselineName: "raw Deno sockets",
    baseline: b.rssPerConn,
    ratio,
    target: "≤ 1.3×",
    met: ratio <= 1.3,
    notes: `median of ${rounds} alternating runs each; JS heap per connection: Switchboard ${
      (s.heapPerConn / 1024).toFixed(1)
    } KiB, raw ${(b.heapPerConn / 1024).toFixed(1)} KiB`,
  }];
}

/**
 * The `GET /mem` answer of the Deno bench servers (bench/servers/raw_deno.ts, switchboard.ts):
 * memory after a GC, for bench/load.ts. Run the server with `--v8-flags=--expose-gc`.
 *
 * @module
 */
import v8 from "node:v8";

/**
 * `{rss, heapUsed, heapTotal, spaces, connections}` after a GC; `spaces` is V8's heap spaces'
 * committed bytes by name (`new_space`: the young generation, which a burst of connections grows).
 */
export function memAnswer(connections: number): Response {
  (globalThis as { gc?: () => void }).gc?.();
  const m = Deno.memoryUsage();
  return Response.json({
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    spaces: Object.fromEntries(
      v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]),
    ),
    connections,
  });
}

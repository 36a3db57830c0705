/**
 * The binary-encoding row of issue 20: is JSON a large share of a frame's cost, and would
 * MessagePack make it cheaper? Runs bench/micro/codec.ts (CPU per frame of JSON against two
 * MessagePack libraries, `@msgpack/msgpack` and `msgpackr`, on the frames of the echo and fan-out
 * scenarios, and the whole in-process echo pipeline) and reports the best MessagePack against
 * JSON: a ratio above 1× would mean MessagePack is cheaper. Informational (no target: the issue
 * asks for the row either way).
 *
 * @module
 */
import { BENCH_DIR, type Row } from "../lib.ts";
import type { Ctx } from "./common.ts";

/** Runs the JSON vs MessagePack comparison. */
export async function codec(ctx: Ctx): Promise<Row[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      `${BENCH_DIR}../deno.test.json`,
      `${BENCH_DIR}micro/codec.ts`,
      ...(ctx.quick ? ["2000"] : []),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("RESULT "));
  if (!out.success || !line) throw new Error(`bench/micro/codec.ts failed:\n${text}`);
  const { rows, perFrame } = JSON.parse(line.slice("RESULT ".length)) as {
    rows: [string, number, number, number][];
    perFrame: number;
  };
  ctx.log(`  codec: ${JSON.stringify(rows)}; pipeline ${perFrame} µs/frame`);
  return rows.map(([name, json, msgpack, msgpackr]) => {
    const pack = Math.min(msgpack, msgpackr);
    return {
      scenario: `codec: ${name}, MessagePack (best of 2 libraries) vs JSON`,
      metric: "frames per CPU-second",
      switchboard: 1e6 / pack,
      baselineName: "JSON (V8's JSON.parse / JSON.stringify)",
      baseline: 1e6 / json,
      ratio: json / pack,
      target: "-",
      met: true,
      unit: "frames/s",
      notes: `JSON ${json.toFixed(3)} µs, @msgpack/msgpack ${msgpack.toFixed(3)} µs, msgpackr ${
        msgpackr.toFixed(3)
      } µs; the in-process echo pipeline ${perFrame} µs per frame (JSON ${
        (100 * rows[0][1] / perFrame).toFixed(0)
      } % of it)`,
    };
  });
}

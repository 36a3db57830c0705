/**
 * `[WINDOW=32] deno run -A bench/profile.ts <echo|fanout> [seconds]` — CPU profile of the Switchboard server
 * under the benchmark load: the server runs with V8's sampling profiler
 * (`--v8-flags=--prof`), the load generator drives it, and `node --prof-process` turns the log
 * into bench/out/<mode>.prof.txt (flat and bottom-up profiles). The top of the flat profile is
 * printed.
 *
 * (The V8 inspector's Profiler is not used: with an inspector attached, Deno reports every
 * WebSocket frame to it, which dwarfs the work being measured.)
 *
 * @module
 */
import { BENCH_DIR, killAll, spawn } from "./lib.ts";
import { load } from "./scenarios/common.ts";

const mode = Deno.args[0] ?? "echo";
const seconds = Number(Deno.args[1] ?? 4);
const out = `${BENCH_DIR}out/`;
const log = `${out}${mode}.v8.log`;

try {
  await Deno.mkdir(out, { recursive: true });
  await Deno.remove(log).catch(() => {});
  const server = await spawn(Deno.execPath(), [
    "run",
    "--allow-all",
    "--quiet",
    `--v8-flags=--prof,--prof_sampling_interval=250,--no-logfile-per-isolate,--logfile=${log}`,
    `${BENCH_DIR}servers/switchboard.ts`,
    mode,
  ], { label: "profiled server" });
  const base = `ws://127.0.0.1:${server.port}`;
  const res = mode === "echo"
    ? await load("echo", {
      url: `${base}/ws/echo`,
      conns: 50,
      window: 4,
      warmup: 500,
      duration: seconds * 1000,
    }, [server])
    : await load("fanout", {
      "recv-urls": `${base}/ws/room`,
      "send-url": `${base}/ws/sender`,
      receivers: 1000,
      window: Number(Deno.env.get("WINDOW") ?? 4),
      warmup: 500,
      duration: seconds * 1000,
    }, [server]);
  await server.stop();
  console.log(`load: ${JSON.stringify(res)}`);
  const processed = await new Deno.Command("node", {
    args: ["--prof-process", log],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(processed.stdout);
  await Deno.writeTextFile(`${out}${mode}.prof.txt`, text);
  console.log(text.split("\n").slice(0, 60).join("\n"));
  console.log(`\nfull profile: bench/out/${mode}.prof.txt`);
} finally {
  killAll();
}

/**
 * `deno run -A bench/profile.ts <echo|fanout> [seconds]` — CPU profile of the Switchboard server
 * under the benchmark load, through the V8 inspector (Profiler domain). Prints the top functions
 * by self time and the share of each source file, and writes bench/out/<mode>.cpuprofile (open it
 * in Chrome DevTools).
 *
 * @module
 */
import { freePort, killAll, sleep, spawn } from "./lib.ts";
import { load } from "./scenarios/common.ts";

const mode = Deno.args[0] ?? "echo";
const seconds = Number(Deno.args[1] ?? 4);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

async function inspector(
  port: number,
): Promise<(method: string, params?: unknown) => Promise<unknown>> {
  let list: { webSocketDebuggerUrl: string }[] = [];
  for (let i = 0; i < 50 && !list.length; i++) {
    try {
      list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    } catch {
      await sleep(100);
    }
  }
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((r) => (ws.onopen = r));
  let id = 0;
  const waiting = new Map<number, (v: unknown) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.id !== undefined) waiting.get(m.id)?.(m.result);
  };
  return (method, params) =>
    new Promise((resolve) => {
      const n = ++id;
      waiting.set(n, resolve);
      ws.send(JSON.stringify({ id: n, method, params }));
    });
}

try {
  const inspectPort = freePort();
  const inspected = await spawn(Deno.execPath(), [
    "run",
    "--allow-all",
    "--quiet",
    `--inspect=127.0.0.1:${inspectPort}`,
    new URL("./servers/switchboard.ts", import.meta.url).pathname,
    mode,
  ], { label: "profiled server" });
  const call = await inspector(inspectPort);
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 100 });
  await call("Profiler.start");
  const base = `ws://127.0.0.1:${inspected.port}`;
  const res = mode === "echo"
    ? await load("echo", {
      url: `${base}/ws/echo`,
      conns: 50,
      window: 4,
      warmup: 500,
      duration: seconds * 1000,
    }, [inspected])
    : await load("fanout", {
      "recv-urls": `${base}/ws/room`,
      "send-url": `${base}/ws/sender`,
      receivers: 1000,
      window: 4,
      warmup: 500,
      duration: seconds * 1000,
    }, [inspected]);
  const { profile } = await call("Profiler.stop") as { profile: Profile };
  console.log(`load: ${JSON.stringify(res)}`);
  await Deno.mkdir(new URL("./out/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(
    new URL(`./out/${mode}.cpuprofile`, import.meta.url),
    JSON.stringify(profile),
  );
  const self = new Map<number, number>();
  profile.samples.forEach((s, i) => self.set(s, (self.get(s) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const n of profile.nodes) {
    const t = self.get(n.id) ?? 0;
    total += t;
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(main|deno_[a-z_]+|node_modules)\//, "$1/") || "(native)";
    const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + t);
    byFile.set(file, (byFile.get(file) ?? 0) + t);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, t]) =>
      `${((100 * t) / total).toFixed(1).padStart(5)} %  ${k}`
    ).join("\n");
  console.log(`\n== top functions (self time)\n${top(byFn, 40)}`);
  console.log(`\n== by file\n${top(byFile, 25)}`);
  await inspected.stop();
} finally {
  killAll();
}

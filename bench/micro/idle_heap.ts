/**
 * What an idle connection keeps on the server's JS heap, by object kind: starts a bench server
 * under the inspector, takes a V8 heap snapshot, opens N idle sockets from this process, takes a
 * second snapshot, and prints the difference per (node type, constructor name), per connection.
 *
 * `deno run -A bench/micro/idle_heap.ts [switchboard|raw] [connections] [top] [--alloc] [--node]`:
 * `--node` runs the Node servers compiled into .bench-node/ (bench/scenarios/node.ts compiles
 * them; so does `bench/micro/idle_ab.ts --node`).
 *
 * @module
 */
const positional = Deno.args.filter((a) => !a.startsWith("--"));
const which = positional[0] ?? "switchboard";
const N = Number(positional[1] ?? 2000);
const TOP = Number(positional[2] ?? 40);
const onNode = Deno.args.includes("--node");
const inspectPort = 9300 + Math.floor(Math.random() * 500);
const script = which === "raw" ? "servers/raw_deno.ts" : "servers/switchboard.ts";
const path = which === "raw" ? "/" : "/ws/idle";
const nodeScript = new URL(
  `../../.bench-node/bench/servers/${which === "raw" ? "raw_ws.js" : "switchboard_node.js"}`,
  import.meta.url,
).pathname;

const proc = onNode
  ? new Deno.Command("node", {
    args: [`--inspect=127.0.0.1:${inspectPort}`, "--expose-gc", nodeScript, "idle"],
    stdout: "piped",
    stderr: "null",
  }).spawn()
  : new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      `--inspect=127.0.0.1:${inspectPort}`,
      "--v8-flags=--expose-gc",
      new URL(`../${script}`, import.meta.url).pathname,
      "idle",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
let out = "";
while (!out.includes("READY")) out += (await reader.read()).value ?? "";
const port = Number(out.match(/READY (\d+)/)![1]);

const list = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json();
const cdp = new WebSocket(list[0].webSocketDebuggerUrl);
await new Promise((r) => cdp.onopen = r);
let id = 0;
const pending = new Map<number, (v: unknown) => void>();
let chunks: string[] = [];
cdp.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.id && pending.has(m.id)) {
    pending.get(m.id)!(m.result);
    pending.delete(m.id);
  } else if (m.method === "HeapProfiler.addHeapSnapshotChunk") chunks.push(m.params.chunk);
};
const call = (method: string, params = {}) =>
  new Promise((resolve) => {
    pending.set(++id, resolve);
    cdp.send(JSON.stringify({ id, method, params }));
  });

interface Snap {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: unknown[][];
      edge_fields: string[];
      edge_types: unknown[][];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}
type Tally = Map<string, { count: number; size: number }>;
/** Node ids seen in the first snapshot (V8 keeps an object's id across snapshots). */
let seen: Set<number> | undefined;

/** Tallies the snapshot's nodes by kind; after the first one, only the nodes it did not have. */
async function snapshot(): Promise<Tally> {
  await call("HeapProfiler.collectGarbage");
  chunks = [];
  await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  const snap: Snap = JSON.parse(chunks.join(""));
  chunks = [];
  const { node_fields: fields, edge_fields: efields } = snap.snapshot.meta;
  const types = snap.snapshot.meta.node_types[0] as string[];
  const etypes = snap.snapshot.meta.edge_types[0] as string[];
  const width = fields.length;
  const ewidth = efields.length;
  const [iType, iName, iId, iSize, iEdges] = ["type", "name", "id", "self_size", "edge_count"]
    .map((f) => fields.indexOf(f));
  const [eType, eName, eTo] = ["type", "name_or_index", "to_node"].map((f) => efields.indexOf(f));
  const count = snap.nodes.length / width;
  const firstEdge = new Int32Array(count + 1);
  for (let n = 0, e = 0; n < count; n++) {
    firstEdge[n] = e;
    e += snap.nodes[n * width + iEdges] * ewidth;
  }
  firstEdge[count] = snap.edges.length;
  // One retainer per node (the first strong edge to it), for naming arrays and closures.
  const retainer = new Int32Array(count).fill(-1);
  const retainerEdge = new Int32Array(count).fill(-1);
  for (let n = 0; n < count; n++) {
    for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += ewidth) {
      const t = etypes[snap.edges[e + eType]];
      if (t === "weak" || t === "shortcut") continue;
      const to = snap.edges[e + eTo] / width;
      if (retainer[to] === -1) {
        retainer[to] = n;
        retainerEdge[to] = e;
      }
    }
  }
  const label = (n: number) => {
    const type = types[snap.nodes[n * width + iType]];
    const name = snap.strings[snap.nodes[n * width + iName]].replace(/ @\d+$/, "");
    return type.includes("string") ? type : `${type} ${name.slice(0, 40)}`;
  };
  const edgeName = (e: number) => {
    const t = etypes[snap.edges[e + eType]];
    const v = snap.edges[e + eName];
    return t === "element" || t === "hidden" ? `[${v}]` : String(snap.strings[v]);
  };
  const first = !seen;
  if (first) seen = new Set();
  const by: Tally = new Map();
  for (let n = 0; n < count; n++) {
    const id = snap.nodes[n * width + iId];
    if (first) {
      seen!.add(id);
      continue;
    }
    if (seen!.has(id)) continue;
    let key = label(n);
    const type = types[snap.nodes[n * width + iType]];
    if (type === "object" && !key.includes("system /")) {
      const props: string[] = [];
      for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += ewidth) {
        if (etypes[snap.edges[e + eType]] === "property") props.push(edgeName(e));
      }
      key += ` {${props.slice(0, 8).join(",")}}`;
    }
    const r = retainer[n];
    if (r !== -1) key += `  <- ${label(r)}.${edgeName(retainerEdge[n])}`;
    const entry = by.get(key) ?? { count: 0, size: 0 };
    entry.count++;
    entry.size += snap.nodes[n * width + iSize];
    by.set(key, entry);
  }
  return by;
}

await call("HeapProfiler.enable");
// Warm up: a few connections opened and closed, so modules and shapes exist before.
const open = (n: number) =>
  Promise.all(
    Array.from({ length: n }, () =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
        ws.onopen = () => resolve(ws);
        ws.onerror = reject;
      })),
  );
const mem = async () => await (await fetch(`http://127.0.0.1:${port}/mem`)).json();
const warm = await open(20);
for (const w of warm) w.close();
while ((await mem()).connections > 0) await new Promise((r) => setTimeout(r, 50));
await mem();
const before = await snapshot();
const ALLOC = Deno.args.includes("--alloc");
if (ALLOC) {
  await call("HeapProfiler.startSampling", {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}
const sockets: WebSocket[] = [];
for (let i = 0; i < N; i += 200) sockets.push(...await open(Math.min(200, N - i)));
while ((await mem()).connections < N) await new Promise((r) => setTimeout(r, 50));
await new Promise((r) => setTimeout(r, 500));
if (ALLOC) {
  interface Frame {
    callFrame: { functionName: string; url: string; lineNumber: number };
    selfSize: number;
    children: Frame[];
  }
  const { profile } = await call("HeapProfiler.stopSampling") as { profile: { head: Frame } };
  const by = new Map<string, number>();
  let total = 0;
  const where = ({ functionName, url, lineNumber }: Frame["callFrame"]) =>
    `${functionName || "(anonymous)"} ${url.replace(/^.*\/(src|adapters|bench|ext)\//, "$1/")}:${
      lineNumber + 1
    }`;
  // Each allocation is charged to the innermost library frame on its stack (src/, adapters/,
  // bench/servers/), followed by the function that allocated, when that is another one.
  const walk = (f: Frame, lib: string | undefined) => {
    const here = where(f.callFrame);
    const own = /\/(src|adapters|bench)\//.test(f.callFrame.url) ? here : lib;
    const key = own ? (own === here ? own : `${own} → ${here}`) : here;
    by.set(key, (by.get(key) ?? 0) + f.selfSize);
    total += f.selfSize;
    for (const c of f.children) walk(c, own);
  };
  walk(profile.head, undefined);
  console.log(`${which}: ${(total / N).toFixed(0)} B allocated per connection while connecting`);
  for (const [key, size] of [...by].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`${(size / N).toFixed(0).padStart(8)} B  ${key}`);
  }
}
const after = await snapshot();

void before;
const rows: { key: string; count: number; size: number }[] = [];
for (const [key, a] of after) rows.push({ key, count: a.count / N, size: a.size / N });
rows.sort((x, y) => y.size - x.size);
const total = rows.reduce((s, r) => s + r.size, 0);
console.log(
  `${which}: ${total.toFixed(0)} B of new JS heap objects (self sizes) per connection, N=${N}`,
);
for (const r of rows.slice(0, TOP)) {
  console.log(`${r.size.toFixed(1).padStart(8)} B  ${r.count.toFixed(2).padStart(6)}×  ${r.key}`);
}
for (const s of sockets) s.close();
cdp.close();
proc.kill("SIGKILL");
await proc.status;

/**
 * The load generator: a separate Deno process (its own event loop and, on a 2-core machine, its
 * own core) that drives one server and prints `RESULT {json}`.
 *
 * The same client code talks to every server; only the framing differs (`--proto`):
 * - `sb`: Switchboard JSON frames `{"action":…,"payload":…}` (also used against the raw servers,
 *   which echo or loop them unchanged);
 * - `sio`: the Socket.IO 4 wire protocol over a plain WebSocket (Engine.IO v4 open `0{…}`, namespace
 *   connect `40`, events `42[…]`, ping `2` / pong `3`), so the Socket.IO baseline pays no extra
 *   client cost.
 *
 * Modes (every loop is bounded by `--warmup` + `--duration`):
 * - `echo --url U --conns 50 --window 4 [--action say]`: closed loop, `window` frames in flight
 *   per connection, each answered by one frame (also the job round trip, with `--action work`);
 *   `--expect PREFIX` counts replies that do not start with PREFIX as `unexpected`.
 * - `fanout --send-url U --recv-urls U1,U2 --receivers 1000 --window 4`: one sender, receivers
 *   spread over the URLs; a broadcast is complete when every receiver has it, then the next is sent.
 * - `idle --url U --mem-url M --conns 5000 [--more 5000]`: memory per open connection, read from
 *   the server's `/mem` (after a GC) before and after connecting; with `--more`, that many more
 *   connections are opened next and what they add is reported too (`marginal…`): the cost of a
 *   connection once the heap has grown for the first ones, without what a burst from a cold start
 *   commits once (a young generation grown towards its bound).
 *
 * @module
 */
import { nOfBytes, rawConnect, type RawSocket } from "./raw_client.ts";

type Proto = "sb" | "sio";

/** `--key value` / `--key=value` options and positional arguments. */
function parseArgs(
  argv: string[],
): { _: string[]; [key: string]: string | string[] } {
  const out: { _: string[]; [key: string]: string | string[] } = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) {
      out._.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    if (eq !== -1) out[a.slice(2, eq)] = a.slice(eq + 1);
    else out[a.slice(2)] = argv[++i];
  }
  return out;
}

const args: Record<string, string> & { _: string[] } = {
  proto: "sb",
  action: "say",
  conns: "50",
  window: "4",
  receivers: "1000",
  warmup: "1000",
  duration: "5000",
  ...parseArgs(Deno.args),
} as unknown as Record<string, string> & { _: string[] };
const mode = String(args._[0] ?? "echo");
const proto = args.proto as Proto;

/** CPU seconds (user + system) used so far by the processes in `--pids` and by this one. */
function cpuSeconds(pid: string): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return NaN;
  }
}

/** Samples server and client CPU over a measurement window. */
function cpuMeter() {
  const pids = (args.pids ?? "").split(",").filter(Boolean);
  const s0 = pids.map(cpuSeconds);
  const c0 = cpuSeconds("self");
  return () => ({
    serverCpu: pids.reduce((sum, p, i) => sum + cpuSeconds(p) - s0[i], 0),
    clientCpu: cpuSeconds("self") - c0,
  });
}

function now(): number {
  return performance.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function frame(action: string, n: number): string {
  return proto === "sio"
    ? `42["${action}",{"text":"hello, world","n":${n}}]`
    : `{"action":"${action}","payload":{"text":"hello, world","n":${n}}}`;
}

/** Extracts `n` cheaply (no JSON.parse on the client's hot path). */
function nOf(data: string): number {
  const i = data.lastIndexOf('"n":');
  return i === -1 ? NaN : parseInt(data.slice(i + 4), 10);
}

/** Opens a socket and completes the protocol handshake; `onData` gets application frames only. */
function connect(
  url: string,
  onData: (data: string) => void,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let ready = false;
    const timer = setTimeout(
      () => reject(new Error(`connect timeout: ${url}`)),
      20_000,
    );
    const done = () => {
      ready = true;
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = (e) => {
      if (!ready) {
        clearTimeout(timer);
        reject(
          new Error(`connect failed: ${url}: ${(e as ErrorEvent).message}`),
        );
      }
    };
    if (proto === "sb") {
      ws.onopen = done;
      ws.onmessage = (e) => onData(e.data as string);
      return;
    }
    ws.onmessage = (e) => {
      const data = e.data as string;
      const c = data.charCodeAt(0);
      if (c === 52 /* "4" */ && data.charCodeAt(1) === 50 /* "2" */) {
        return onData(data);
      }
      if (c === 50 /* "2" ping */) return ws.send("3");
      if (c === 48 /* "0" open */) return ws.send("40");
      if (c === 52 && data.charCodeAt(1) === 48 /* "40" connected */) {
        return done();
      }
    };
  });
}

/**
 * As {@linkcode connect}, on a raw TCP receiver (bench/raw_client.ts): `onN` gets each application
 * frame's `n` (NaN when it has none).
 */
function connectRaw(url: string, onN: (n: number) => void): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connect timeout: ${url}`)), 20_000);
    const done = (s: RawSocket) => {
      clearTimeout(timer);
      resolve(s);
    };
    const fail = (e: Error) => {
      clearTimeout(timer);
      reject(new Error(`connect failed: ${url}: ${e.message}`));
    };
    if (proto === "sb") {
      rawConnect(url, (_s, buf, start, end) => onN(nOfBytes(buf, start, end)), done, fail);
      return;
    }
    rawConnect(
      url,
      (s, buf, start, end) => {
        const c = buf[start];
        const c1 = end - start > 1 ? buf[start + 1] : -1;
        if (c === 52 /* "4" */ && c1 === 50 /* "2" */) return onN(nOfBytes(buf, start, end));
        if (c === 50 /* "2" ping */) return s.send("3");
        if (c === 48 /* "0" open */) return s.send("40");
        if (c === 52 && c1 === 48 /* "40" connected */) return done(s);
      },
      () => {},
      fail,
    );
  });
}

/**
 * Opens `count` sockets over `urls` (round robin), 200 at a time, with `open(url, i)` (`connect`
 * or `connectRaw` with the socket's callback); answers them in order.
 */
async function connectMany<S>(
  urls: string[],
  count: number,
  open: (url: string, i: number) => Promise<S>,
): Promise<S[]> {
  const sockets: S[] = new Array(count);
  const batch = 200;
  for (let start = 0; start < count; start += batch) {
    const part: Promise<void>[] = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      part.push(
        open(urls[i % urls.length], i).then((s) => {
          sockets[i] = s;
        }),
      );
    }
    await Promise.all(part);
  }
  return sockets;
}

function latencyStats(samples: number[]) {
  samples.sort((a, b) => a - b);
  const p = (q: number) =>
    samples.length ? samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] : NaN;
  return { p50: p(0.5), p99: p(0.99), samples: samples.length };
}

function closeAll(sockets: ReadonlyArray<{ close(): void } | undefined>): void {
  for (const s of sockets) {
    try {
      s?.close();
    } catch { /* closed */ }
  }
}

async function echo() {
  const conns = Number(args.conns);
  const window = Number(args.window);
  let running = true;
  let measuring = false;
  let count = 0;
  const latencies: number[] = [];
  const sentAt: number[][] = Array.from({ length: conns }, () => []);
  const heads = new Array(conns).fill(0);
  let seq = 0;
  let sockets: WebSocket[] = [];
  const expect = args.expect;
  let unexpected = 0;
  let sample = "";
  const onData = (i: number, data: string) => {
    if (expect && !data.startsWith(expect)) {
      unexpected++;
      sample ||= data.slice(0, 200);
    }
    const t = now();
    const q = sentAt[i];
    const sent = q[heads[i]++];
    if (heads[i] > 1024) {
      q.splice(0, heads[i]);
      heads[i] = 0;
    }
    if (measuring) {
      count++;
      latencies.push(t - sent);
    }
    if (running) {
      q.push(now());
      sockets[i].send(frame(args.action, seq++));
    }
  };
  sockets = await connectMany([args.url], conns, (url, i) => connect(url, (d) => onData(i, d)));
  // Check the first reply is what we expect (the server validated and answered).
  for (let i = 0; i < conns; i++) {
    for (let w = 0; w < window; w++) {
      sentAt[i].push(now());
      sockets[i].send(frame(args.action, seq++));
    }
  }
  await sleep(Number(args.warmup));
  measuring = true;
  const t0 = now();
  const cpu = cpuMeter();
  await sleep(Number(args.duration));
  measuring = false;
  const elapsed = (now() - t0) / 1000;
  const used = cpu();
  running = false;
  await sleep(100);
  closeAll(sockets);
  return {
    msgsPerSec: count / elapsed,
    count,
    seconds: elapsed,
    ...used,
    perServerCpuSecond: count / used.serverCpu,
    unexpected,
    ...(sample ? { sample } : {}),
    ...latencyStats(latencies),
  };
}

async function fanout() {
  const n = Number(args.receivers);
  const window = Number(args.window);
  const urls = args["recv-urls"].split(",");
  const MASK = 0xffff;
  const done = new Uint32Array(MASK + 1);
  const sentAt = new Float64Array(MASK + 1);
  const probed = new Uint8Array(n);
  let probedCount = 0;
  let running = false;
  let measuring = false;
  let deliveries = 0;
  let completed = 0;
  let next = 0;
  const latencies: number[] = [];
  const out: { sender?: WebSocket } = {};
  const send = () => {
    const k = next++;
    sentAt[k & MASK] = now();
    out.sender!.send(frame("shout", k));
  };
  const onN = (i: number, k: number) => {
    if (!(k >= 0)) {
      if (k === -1 && !probed[i]) {
        probed[i] = 1;
        probedCount++;
      }
      return;
    }
    if (measuring) deliveries++;
    const slot = k & MASK;
    if (++done[slot] === n) {
      done[slot] = 0;
      if (measuring) {
        completed++;
        latencies.push(now() - sentAt[slot]);
      }
      if (running) send();
    }
  };
  const receivers: Array<{ close(): void }> = args.recv === "ws"
    ? await connectMany(urls, n, (url, i) => connect(url, (data) => onN(i, nOf(data))))
    : await connectMany(urls, n, (url, i) => connectRaw(url, (k) => onN(i, k)));
  const sender = out.sender = await connect(args["send-url"], () => {});
  // Probe until every receiver is in the group (joins are asynchronous, maybe cross-process).
  const deadline = now() + 20_000;
  while (probedCount < n) {
    if (now() > deadline) {
      throw new Error(`only ${probedCount} of ${n} receivers joined`);
    }
    sender.send(frame("shout", -1));
    await sleep(200);
  }
  await sleep(300);
  running = true;
  for (let w = 0; w < window; w++) send();
  await sleep(Number(args.warmup));
  measuring = true;
  const t0 = now();
  const cpu = cpuMeter();
  await sleep(Number(args.duration));
  measuring = false;
  const elapsed = (now() - t0) / 1000;
  const used = cpu();
  running = false;
  await sleep(200);
  closeAll([sender, ...receivers]);
  return {
    deliveriesPerSec: deliveries / elapsed,
    ...used,
    perServerCpuSecond: deliveries / used.serverCpu,
    broadcastsPerSec: completed / elapsed,
    deliveries,
    seconds: elapsed,
    ...latencyStats(latencies),
  };
}

async function mem(): Promise<
  {
    rss: number;
    heapUsed: number;
    heapTotal?: number;
    external?: number;
    /** V8's heap spaces' committed bytes by name (the Deno servers answer them). */
    spaces?: Record<string, number>;
    connections: number;
  }
> {
  const r = await fetch(args["mem-url"]);
  return await r.json();
}

async function idle() {
  const conns = Number(args.conns);
  await mem(); // one GC before the baseline reading
  const before = await mem();
  const t0 = now();
  const sockets = await connectMany([args.url], conns, (url) => connect(url, () => {}));
  const connectSeconds = (now() - t0) / 1000;
  const deadline = now() + 20_000;
  let after = await mem();
  while (after.connections < conns && now() < deadline) {
    await sleep(100);
    after = await mem();
  }
  await sleep(1000);
  after = await mem();
  const more = Number(args.more ?? 0);
  let marginal = { rssPerConn: NaN, heapPerConn: NaN };
  if (more > 0) {
    sockets.push(...await connectMany([args.url], more, (url) => connect(url, () => {})));
    let last = await mem();
    while (last.connections < conns + more && now() < deadline + 20_000) {
      await sleep(100);
      last = await mem();
    }
    await sleep(1000);
    last = await mem();
    // Divided by the connections the server counts as added (a socket that did not open is not).
    const added = last.connections - after.connections;
    if (added < more) console.error(`idle --more: only ${added} of ${more} more sockets opened`);
    marginal = {
      rssPerConn: added > 0 ? (last.rss - after.rss) / added : NaN,
      heapPerConn: added > 0 ? (last.heapUsed - after.heapUsed) / added : NaN,
    };
  }
  closeAll(sockets);
  return {
    marginalRssPerConn: marginal.rssPerConn,
    marginalHeapPerConn: marginal.heapPerConn,
    connections: after.connections,
    rssPerConn: (after.rss - before.rss) / conns,
    heapPerConn: (after.heapUsed - before.heapUsed) / conns,
    heapTotalPerConn: ((after.heapTotal ?? NaN) - (before.heapTotal ?? NaN)) / conns,
    externalPerConn: ((after.external ?? NaN) - (before.external ?? NaN)) / conns,
    // The young generation's committed bytes (V8 grows it during a burst of connections).
    newSpacePerConn: ((after.spaces?.new_space ?? NaN) - (before.spaces?.new_space ?? NaN)) / conns,
    oldSpacePerConn: ((after.spaces?.old_space ?? NaN) - (before.spaces?.old_space ?? NaN)) / conns,
    rssBefore: before.rss,
    rssAfter: after.rss,
    connectSeconds,
  };
}

const run = { echo, fanout, idle }[mode];
if (!run) throw new Error(`unknown mode ${mode}`);
const result = await run();
console.log(`RESULT ${JSON.stringify(result)}`);
Deno.exit(0);

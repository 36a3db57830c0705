/**
 * `deno task soak [--minutes 10] [--conns 2000] [--servers 2] [--rooms 200] [--rate 0.2]
 *   [--history] [--redis aof|empty] [--out bench/soak.md]` — the issue #11 soak test (not run in
 *   CI).
 *
 * A private redis-server on a free port, several Switchboard server processes sharing it through
 * the Redis pub/sub layer, and one client process with thousands of connections chatting,
 * joining and leaving rooms and reconnecting. Redis is killed (SIGKILL: a crash) and restarted once,
 * halfway: `--redis aof` (default) with the append-only file and `appendfsync always`, so the data
 * survives the crash; `--redis empty` without persistence, so it comes back empty (with
 * `--history`: a new epoch, `recovered: false` notices). The
 * report gives messages sent and received, losses (around the restart and elsewhere), refusals,
 * reconnects and server memory at start and end.
 *
 * @module
 */
import { type Child, deno, type PrivateRedis, sleep, startRedis, writeMarkdown } from "./lib.ts";
import { killAll } from "./lib.ts";

function opt(name: string, dflt: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? dflt : Deno.args[i + 1];
}

const minutes = Number(opt("minutes", "10"));
const conns = Number(opt("conns", "2000"));
const serverCount = Number(opt("servers", "2"));
const rooms = Number(opt("rooms", "200"));
const rate = Number(opt("rate", "0.2"));
const jobRate = Number(opt("jobs", "0.005"));
/** `--history`: the chat rooms keep a history; gaps are filled from it (docs/recovery.md). */
const history = Deno.args.includes("--history");
/** How Redis restarts: `aof` (append-only file, fsync always, crash) or `empty` (no persistence). */
const redisMode = opt("redis", "aof");
if (redisMode !== "aof" && redisMode !== "empty") {
  throw new Error("--redis aof|empty");
}
/** With `--history`: the share of connections on the chat without history (`/ws/plain`). */
const plainShare = opt("plain", "0.25");
const outFile = opt("out", new URL("./soak.md", import.meta.url).pathname);
const log = (m: string) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${m}`);

interface Mem {
  rss: number;
  heapUsed: number;
  connections: number;
  /** History entries read back after a position (gap fills, replays) since the server started. */
  replayed?: number;
}

async function mem(server: Child): Promise<Mem> {
  const r = await fetch(`http://127.0.0.1:${server.port}/mem`);
  return await r.json();
}

async function memAll(servers: Child[]): Promise<Mem[]> {
  return await Promise.all(
    servers.map((s) => mem(s).catch(() => ({ rss: NaN, heapUsed: NaN, connections: NaN }))),
  );
}

/** The machine's load averages (1, 5, 15 min), from /proc/loadavg. */
function loadavg(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(
      " ",
    );
  } catch {
    return "n/a";
  }
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const seconds = Math.round(minutes * 60);
  let redis: PrivateRedis | undefined;
  const servers: Child[] = [];
  try {
    redis = await startRedis(
      redisMode === "aof" ? { persist: true, appendfsync: "always", crash: true } : {},
    );
    log(`private redis-server at ${redis.url}`);
    for (let i = 0; i < serverCount; i++) {
      servers.push(
        await deno("servers/soak_server.ts", [], {
          env: {
            REDIS_URL: redis.url,
            V8_FLAGS: "--expose-gc",
            SOAK_HISTORY: history ? "1" : "0",
          },
        }),
      );
    }
    const urls = servers.map((s) => `ws://127.0.0.1:${s.port}`).join(",");
    log(
      `${serverCount} servers; starting ${conns} connections for ${seconds} s`,
    );
    const client = await deno("soak_client.ts", [
      "--urls",
      urls,
      "--conns",
      String(conns),
      "--rooms",
      String(rooms),
      "--seconds",
      String(seconds),
      "--rate",
      String(rate),
      "--jobs",
      String(jobRate),
      ...(history ? ["--history", "--plain", plainShare] : []),
    ], { ready: false });
    const active = await client.next("ACTIVE", 120_000);
    const startedAt = Number(active.split(" ")[1]);
    const loadStart = loadavg();
    await sleep(Math.min(10_000, seconds * 100));
    const memStart = await memAll(servers);
    log(
      `memory at start: ${
        memStart.map((m) => `${mib(m.rss)} RSS / ${mib(m.heapUsed)} heap, ${m.connections} conns`)
          .join("; ")
      }`,
    );
    const samples: { t: number; mem: Mem[] }[] = [{
      t: Date.now() - startedAt,
      mem: memStart,
    }];
    const restartAt = startedAt + seconds * 500;
    let restart: { down: number; up: number } | undefined;
    const progress = (async () => {
      for (;;) {
        const line = await client.next("PROGRESS", (seconds + 120) * 1000)
          .catch(() => "");
        if (!line) return;
        const p = JSON.parse(line.slice(9));
        log(
          `t=${p.t}s open=${p.open} sent=${p.sent} delivered=${p.delivered} lost=${p.lost} refused=${p.refused} ` +
            `reconnects=${p.reconnects} resync=${p.resyncFrames} notices=${p.historyLosses} ` +
            `jobs=${p.jobsSent}/${p.jobsDone}`,
        );
      }
    })();
    // Memory every 30 s; Redis restart halfway.
    while (Date.now() < startedAt + seconds * 1000) {
      const wait = Math.min(30_000, startedAt + seconds * 1000 - Date.now());
      if (!restart && Date.now() + wait >= restartAt) {
        await sleep(Math.max(0, restartAt - Date.now()));
        log(
          `killing redis-server (SIGKILL; ${
            redisMode === "aof" ? "append-only file, fsync always" : "no persistence"
          }); restarting in 2 s`,
        );
        const down = Date.now();
        await redis.restart(2000);
        restart = { down, up: Date.now() };
        log("redis-server is back");
        continue;
      }
      await sleep(wait);
      if (Date.now() < startedAt + seconds * 1000) {
        samples.push({ t: Date.now() - startedAt, mem: await memAll(servers) });
      }
    }
    await client.next("IDLE", 60_000);
    const memEnd = await memAll(servers);
    samples.push({ t: Date.now() - startedAt, mem: memEnd });
    log(
      `memory at end: ${
        memEnd.map((m) => `${mib(m.rss)} RSS / ${mib(m.heapUsed)} heap, ${m.connections} conns`)
          .join("; ")
      }`,
    );
    const line = await client.next("RESULT", 60_000);
    await progress;
    const r = JSON.parse(line.slice(7));
    await writeReport(r, {
      startedAt,
      seconds,
      restart,
      memStart,
      memEnd,
      samples,
      loadStart,
      loadEnd: loadavg(),
    });
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await redis?.stop();
  }
}

interface RunInfo {
  startedAt: number;
  seconds: number;
  restart: { down: number; up: number } | undefined;
  memStart: Mem[];
  memEnd: Mem[];
  samples: { t: number; mem: Mem[] }[];
  loadStart: string;
  loadEnd: string;
}

/** Chat deliveries per kind of consumer (with `--history`): the four outcomes, apart. */
// deno-lint-ignore no-explicit-any
function historyRows(r: any, run: RunInfo): string[] {
  if (!history) return [];
  const h = r.byKind.history;
  const p = r.byKind.plain;
  const replayed = run.memEnd.reduce((a, m) => a + (m.replayed ?? 0), 0);
  const pct = (
    a: number,
    b: number,
  ) => (b ? `${((100 * a) / b).toFixed(3)} %` : "n/a");
  const reasons = Object.entries(r.notices as Record<string, number>).map(([k, n]) => `${n} ${k}`)
    .join(", ") || "none";
  const silent = Object.entries(r.silentBySecond as Record<string, number>).map(
    ([k, n]) => `${Number(k) - Math.floor(run.startedAt / 1000)} s: ${n}`,
  ).join(", ");
  return [
    "Chat deliveries by kind of consumer (rooms of one kind only hold connections of that kind):",
    "",
    "| | with history (`/ws/chat`) | without history (`/ws/plain`) |",
    "|---|---:|---:|",
    `| connections | ${h.connections} | ${p.connections} |`,
    `| messages sent | ${h.sent} | ${p.sent} |`,
    `| deliveries expected | ${h.expected} | ${p.expected} |`,
    `| delivered | ${h.delivered} (${pct(h.delivered, h.expected)}) | ${p.delivered} (${
      pct(p.delivered, p.expected)
    }) |`,
    `| — of which recovered by replay (history read back by the servers) | ${replayed} | — |`,
    `| recipient left or reconnected first (not lost) | ${h.excused} | ${p.excused} |`,
    `| lost but told (\`history_recovery\` \`recovered: false\` for the room) | ${h.lostTold} | — |`,
    `| lost silently | **${h.lostSilent}**${silent ? ` (${silent})` : ""} | ${p.lostSilent} |`,
    `| \`recovered: false\` notices (by reason) | ${reasons} | — |`,
    "",
    '"Recovered by replay" counts the history entries the server processes read back after a ' +
    "position (gap fills after the outage: `readSince` wrapped in bench/servers/soak_server.ts); " +
    'they are part of "delivered". Silent losses of consumers without history are today\'s ' +
    "pub/sub behaviour (announced only by `resync`).",
    "",
  ];
}

// deno-lint-ignore no-explicit-any
async function writeReport(r: any, run: RunInfo): Promise<void> {
  const windowStart = run.restart ? Math.floor(run.restart.down / 1000) - 2 : Infinity;
  const windowEnd = run.restart ? Math.ceil(run.restart.up / 1000) + 15 : -Infinity;
  let lostAround = 0;
  let lostElsewhere = 0;
  const perSecond: string[] = [];
  for (
    const [s, n] of Object.entries(r.lostBySecond as Record<string, number>)
  ) {
    const sec = Number(s);
    if (sec >= windowStart && sec <= windowEnd) lostAround += n;
    else lostElsewhere += n;
    perSecond.push(`${sec - Math.floor(run.startedAt / 1000)} s: ${n}`);
  }
  let refusedAround = 0;
  for (
    const [s, n] of Object.entries(r.refusedBySecond as Record<string, number>)
  ) {
    const sec = Number(s);
    if (sec >= windowStart && sec <= windowEnd) refusedAround += n;
  }
  const pct = (
    a: number,
    b: number,
  ) => (b ? `${((100 * a) / b).toFixed(3)} %` : "n/a");
  const rel = (t: number) => `${((t - run.startedAt) / 1000).toFixed(1)} s`;
  const memRow = (label: string, m: Mem[]) =>
    `| ${label} | ${
      m.map((x) => `${mib(x.rss)} / ${mib(x.heapUsed)} (${x.connections} conns)`).join(" | ")
    } |`;
  const md = [
    "# Soak test (issues #11 and #19)",
    "",
    `Generated by \`deno task soak --minutes ${minutes} --conns ${conns} --servers ${serverCount} ` +
    `--rooms ${rooms} --rate ${rate} --jobs ${jobRate}${history ? " --history" : ""} ` +
    `--redis ${redisMode}\` on ${new Date(run.startedAt).toISOString().slice(0, 19)}Z ` +
    `(Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores).`,
    "",
    `Setup: ${serverCount} Switchboard server processes on one private redis-server (Redis pub/sub ` +
    `layer; ${
      redisMode === "aof"
        ? "append-only file on, `appendfsync always`"
        : "no persistence: no append-only file, no snapshots"
    }), one client process with ${conns} connections over ${rooms} ` +
    `rooms${
      history
        ? ` (history on: ${
          100 - Number(plainShare) * 100
        } % of the connections on the chat with history, \`{ size: 10000, ttlMs: 300000 }\`, ` +
          `in rooms of their own; the others on the same chat without history)`
        : ""
    }. Machine load average (1/5/15 min) ${run.loadStart} at the start, ${run.loadEnd} at the end. ` +
    `Every connection ` +
    `sends ~${rate} chat messages/s into one of its rooms, joins or leaves a room ~0.02 times/s ` +
    `(1–3 rooms each), submits ~${jobRate} jobs/s (RedisJobQueue; a Worker in each server ` +
    `process runs it for ~20 ms and pushes the result back with sendEvent, across processes) ` +
    `and reconnects on purpose ~0.001 times/s. Redis was killed (SIGKILL, a crash) and restarted ` +
    (run.restart
      ? `once: down at ${rel(run.restart.down)}, back at ${rel(run.restart.up)}.`
      : "— no restart happened."),
    "",
    "| | count |",
    "|---|---:|",
    `| run time | ${run.seconds} s of activity + 11 s settling |`,
    `| messages sent | ${r.sent} |`,
    `| deliveries expected (confirmed members at send time) | ${r.expectedDeliveries} |`,
    `| deliveries received | ${r.delivered} (${pct(r.delivered, r.expectedDeliveries)}) |`,
    `| deliveries lost | ${r.lost} (${pct(r.lost, r.expectedDeliveries)}) |`,
    `| expected recipients that left or reconnected before delivery (not lost) | ${
      r.excused ?? r.expectedDeliveries - r.delivered - r.lost
    } |`,
    `| — lost around the Redis restart (−2 s … +15 s) | ${lostAround} |`,
    `| — lost at other times | ${lostElsewhere} |`,
    `| messages refused with an error frame (sender told) | ${r.refused} (${refusedAround} around the restart) |`,
    `| extra deliveries (join/leave races, not errors) | ${r.unexpected} |`,
    `| joins / leaves acknowledged | ${r.joins} / ${r.leaves} (${r.joinRefused} joins refused) |`,
    `| planned reconnects / unplanned closes / reconnects done | ${r.plannedReconnects} / ${r.unplannedCloses} / ${r.reconnects} |`,
    `| connect failures | ${r.connectFailures} |`,
    `| resync frames received (layer recovered after the outage) | ${r.resyncFrames} |`,
    `| history (\`--history\`) | ${history ? "on" : "off"}; gaps not recovered: ${
      r.historyLosses ?? 0
    } |`,
    `| connections open at the end | ${r.openAtEnd} of ${conns} |`,
    `| jobs submitted | ${r.jobsSent ?? 0} |`,
    `| job results received | ${r.jobsDone ?? 0} (p50 ${r.jobP50 ?? "n/a"} ms, p99 ${
      r.jobP99 ?? "n/a"
    } ms round trip) |`,
    `| jobs refused with an error frame (enqueue failed, sender told) | ${r.jobsRefused ?? 0} |`,
    `| jobs lost (no result within 60 s or by the end) | ${r.jobsLost ?? 0}${
      r.jobsLostBySecond && Object.keys(r.jobsLostBySecond).length
        ? ` (by second sent: ${
          Object.entries(r.jobsLostBySecond as Record<string, number>).map((
            [k, n],
          ) => `${Number(k) - Math.floor(run.startedAt / 1000)} s: ${n}`).join(
            ", ",
          )
        })`
        : ""
    } |`,
    `| duplicate job results (at-least-once) | ${r.jobsDuplicate ?? 0} |`,
    `| jobs whose connection reconnected before the result (not lost) | ${r.jobsExcused ?? 0} |`,
    "",
    ...historyRows(r, run),
    "Server memory, RSS / JS heap after GC (one column per server process):",
    "",
    `| | ${run.memStart.map((_, i) => `server ${i + 1}`).join(" | ")} |`,
    `|---|${run.memStart.map(() => "---").join("|")}|`,
    memRow("start (connected, warm)", run.memStart),
    ...run.samples.slice(1, -1).map((s) => memRow(`${Math.round(s.t / 1000)} s`, s.mem)),
    memRow("end (before disconnect)", run.memEnd),
    "",
    perSecond.length
      ? `Losses by second of the run: ${perSecond.join(", ")}.`
      : "No delivery was lost.",
    "",
  ].join("\n");
  const dir = outFile.includes("/") ? outFile.slice(0, outFile.lastIndexOf("/")) : ".";
  await Deno.mkdir(dir, { recursive: true });
  await writeMarkdown(outFile, md);
  console.log(md);
  log(`wrote ${outFile}`);
}

try {
  await main();
} finally {
  killAll();
}

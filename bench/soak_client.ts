/**
 * The soak test's client process: thousands of connections spread over the servers, chatting,
 * joining and leaving rooms and reconnecting, for a bounded time. It knows every connection's
 * confirmed rooms, so it knows who must receive each message, and counts what never arrived.
 *
 * `deno run -A bench/soak_client.ts --urls U1,U2 --conns 2000 --rooms 200 --seconds 600
 *   --rate 0.2 --jobs 0.005` prints `ACTIVE`, `IDLE` (activity over, settling) and `RESULT {json}`; progress
 * lines `PROGRESS {json}` every 10 s.
 *
 * A message counts as expected by a connection when its join was acknowledged before the message
 * was sent and no leave or close happened before its delivery window ended; a message the server
 * refused (an error frame carrying its `ref`, e.g. while Redis is down) is counted as refused,
 * not lost. Losses are bucketed by the second they were sent in, so the runner can tell outage
 * losses from others.
 *
 * @module
 */
function opt(name: string, dflt: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? dflt : Deno.args[i + 1];
}

const urls = opt("urls", "").split(",").filter(Boolean);
const connCount = Number(opt("conns", "2000"));
const roomCount = Number(opt("rooms", "200"));
const seconds = Number(opt("seconds", "600"));
const rate = Number(opt("rate", "0.2")); // messages per connection per second
const churn = Number(opt("churn", "0.02")); // joins/leaves per connection per second
const reconnectRate = Number(opt("reconnect", "0.001")); // planned reconnects per conn per second
const jobRate = Number(opt("jobs", "0")); // jobs per connection per second (0: no jobs)
/** `--history`: `/ws/chat` keeps a history (the server runs with SOAK_HISTORY=1). */
const history = Deno.args.includes("--history");
/** With `--history`: the share of connections on `/ws/plain` (no history), counted apart. */
const plainShare = history ? Number(opt("plain", "0.25")) : 1;
const JOB_SETTLE_MS = 60_000;
const SETTLE_MS = 10_000;

type Kind = "history" | "plain";

interface Conn {
  idx: number;
  /** `history`: on `/ws/chat` with `--history` (rooms `rN`); `plain`: no history (rooms `pN`). */
  kind: Kind;
  /** `history_recovery` frames with `recovered: false` of this socket: room → times. */
  notices: Map<string, number[]>;
  /** The reasons of those frames, in the same order (for the diagnostics of a told loss). */
  reasons: Map<string, string[]>;
  ws: WebSocket | undefined;
  open: boolean;
  planned: boolean;
  rooms: Set<string>;
  pending: Set<string>;
  /** When each confirmed room's `joined` came (for the diagnostics of a silent loss). */
  joinedAt: Map<string, number>;
}

interface Sent {
  at: number;
  room: string;
  waiting: Set<number>;
}

const stats = {
  sent: 0,
  delivered: 0,
  expectedDeliveries: 0,
  lost: 0,
  /** Expected deliveries whose recipient left the room or reconnected before it arrived. */
  excused: 0,
  refused: 0,
  unexpected: 0,
  joins: 0,
  leaves: 0,
  joinRefused: 0,
  plannedReconnects: 0,
  unplannedCloses: 0,
  reconnects: 0,
  connectFailures: 0,
  resyncFrames: 0,
  /** `history_recovery` frames with `recovered: false` (`--history`). */
  historyLosses: 0,
  errorFrames: 0,
  jobsSent: 0,
  jobsDone: 0,
  jobsDuplicate: 0,
  jobsRefused: 0,
  jobsLost: 0,
  /** Jobs whose connection closed (planned reconnect) before the result came. */
  jobsExcused: 0,
};
/** Per kind of consumer: deliveries expected, received, lost (told by a notice or silently). */
const newKindStats = () => ({
  connections: 0,
  sent: 0,
  expected: 0,
  delivered: 0,
  excused: 0,
  refusedDeliveries: 0,
  lost: 0,
  /** Lost, but the socket got `history_recovery` `recovered: false` for the room meanwhile. */
  lostTold: 0,
  /** Lost without any notice (must be 0 for history consumers). */
  lostSilent: 0,
});
const byKind = { history: newKindStats(), plain: newKindStats() };
/** `history_recovery` `recovered: false` frames by reason; `recovered: true` frames. */
const notices: Record<string, number> = {};
let recoveredNotices = 0;
const silentBySecond = new Map<number, number>();
let silentLogged = 0;
let toldLogged = 0;
/** Jobs waiting for their result: id → [connection, sent at]. */
const jobs = new Map<number, [number, number]>();
const jobsFinished = new Set<number>();
const jobLatencies: number[] = [];
const jobsLostBySecond = new Map<number, number>();
const lostBySecond = new Map<number, number>();
const refusedBySecond = new Map<number, number>();
const members = new Map<string, Set<number>>();
const outstanding = new Map<number, Sent>();
const conns: Conn[] = [];
let nextId = 0;
let active = true;

function bump(map: Map<number, number>, at: number, n: number): void {
  const s = Math.floor(at / 1000);
  map.set(s, (map.get(s) ?? 0) + n);
}

function roomsOf(room: string): Set<number> {
  let set = members.get(room);
  if (!set) members.set(room, set = new Set());
  return set;
}

function send(c: Conn, frame: unknown): void {
  if (c.open && c.ws?.readyState === WebSocket.OPEN) {
    c.ws.send(JSON.stringify(frame));
  }
}

function dropMembership(c: Conn, room: string): void {
  c.rooms.delete(room);
  members.get(room)?.delete(c.idx);
  // Messages still in flight to this room may or may not reach a leaving connection.
  for (const s of outstanding.values()) {
    if (s.waiting.delete(c.idx)) {
      stats.excused++;
      byKind[c.kind].excused++;
    }
  }
}

function forgetConnection(c: Conn): void {
  for (const room of [...c.rooms]) members.get(room)?.delete(c.idx);
  c.rooms.clear();
  c.pending.clear();
  for (const s of outstanding.values()) {
    if (s.waiting.delete(c.idx)) {
      stats.excused++;
      byKind[c.kind].excused++;
    }
  }
  for (const [id, [idx]] of jobs) {
    if (idx === c.idx) {
      jobs.delete(id);
      stats.jobsExcused++;
    }
  }
}

function onFrame(c: Conn, data: string): void {
  const f = JSON.parse(data) as {
    action: string;
    payload: Record<string, unknown>;
    ref?: string;
  };
  switch (f.action) {
    case "said": {
      const s = outstanding.get(f.payload.id as number);
      if (s?.waiting.delete(c.idx)) {
        stats.delivered++;
        byKind[c.kind].delivered++;
      } else stats.unexpected++;
      return;
    }
    case "joined": {
      const room = f.payload.room as string;
      if (!c.pending.delete(room)) return;
      c.rooms.add(room);
      c.joinedAt.set(room, Date.now());
      roomsOf(room).add(c.idx);
      stats.joins++;
      return;
    }
    case "left":
      stats.leaves++;
      return;
    case "done": {
      const id = f.payload.id as number;
      const job = jobs.get(id);
      if (job) {
        jobs.delete(id);
        jobsFinished.add(id);
        stats.jobsDone++;
        jobLatencies.push(Date.now() - job[1]);
      } else if (jobsFinished.has(id)) stats.jobsDuplicate++;
      return;
    }
    case "resync":
      stats.resyncFrames++;
      return;
    case "history_recovery": { // `--history`: a gap the server could not fill (docs/recovery.md)
      if (f.payload.recovered) {
        recoveredNotices++;
        return;
      }
      stats.historyLosses++;
      const reason = String(f.payload.reason);
      notices[reason] = (notices[reason] ?? 0) + 1;
      const room = String(f.payload.group ?? "").replace(/^room\./, "");
      let times = c.notices.get(room);
      if (!times) c.notices.set(room, times = []);
      let reasons = c.reasons.get(room);
      if (!reasons) c.reasons.set(room, reasons = []);
      times.push(Date.now());
      reasons.push(reason);
      if (times.length > 20) times.shift(), reasons.shift();
      return;
    }
    case "error": {
      stats.errorFrames++;
      const ref = f.ref ?? "";
      if (ref.startsWith("s:")) {
        const id = Number(ref.slice(2));
        const s = outstanding.get(id);
        if (s) {
          outstanding.delete(id);
          stats.refused++;
          stats.expectedDeliveries -= s.waiting.size;
          const k = byKind[conns[c.idx].kind];
          k.expected -= s.waiting.size;
          k.refusedDeliveries += s.waiting.size;
          bump(refusedBySecond, s.at, 1);
        }
      } else if (ref.startsWith("w:")) {
        if (jobs.delete(Number(ref.slice(2)))) stats.jobsRefused++;
      } else if (ref.startsWith("j:")) {
        c.pending.delete(ref.slice(2));
        stats.joinRefused++;
      }
      return;
    }
  }
}

function join(c: Conn): void {
  const room = `${c.kind === "history" ? "r" : "p"}${Math.floor(Math.random() * roomCount)}`;
  if (c.rooms.has(room) || c.pending.has(room)) return;
  c.pending.add(room);
  send(c, { action: "join", payload: { room }, ref: `j:${room}` });
}

function leave(c: Conn): void {
  const room = [...c.rooms][Math.floor(Math.random() * c.rooms.size)];
  if (!room) return;
  dropMembership(c, room);
  send(c, { action: "leave", payload: { room }, ref: `l:${room}` });
}

function say(c: Conn): void {
  const room = [...c.rooms][Math.floor(Math.random() * c.rooms.size)];
  if (!room) return;
  const id = nextId++;
  const waiting = new Set(members.get(room) ?? []);
  outstanding.set(id, { at: Date.now(), room, waiting });
  stats.sent++;
  stats.expectedDeliveries += waiting.size;
  byKind[c.kind].sent++;
  byKind[c.kind].expected += waiting.size;
  send(c, {
    action: "say",
    payload: { room: room, id, text: "soak message ".repeat(3) },
    ref: `s:${id}`,
  });
}

let nextJob = 0;
function work(c: Conn): void {
  const id = nextJob++;
  jobs.set(id, [c.idx, Date.now()]);
  stats.jobsSent++;
  send(c, { action: "work", payload: { id }, ref: `w:${id}` });
}

function open(c: Conn): Promise<void> {
  return new Promise((resolve) => {
    const path = c.kind === "history" ? "chat" : history ? "plain" : "chat";
    const ws = new WebSocket(`${urls[c.idx % urls.length]}/ws/${path}`);
    c.ws = ws;
    c.notices = new Map();
    c.reasons = new Map();
    c.planned = false;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      c.open = true;
      const n = 1 + Math.floor(Math.random() * 3);
      for (let i = 0; i < n; i++) join(c);
      resolve();
    };
    ws.onmessage = (e) => onFrame(c, e.data as string);
    ws.onerror = () => {};
    ws.onclose = () => {
      c.open = false;
      forgetConnection(c);
      if (!opened) {
        stats.connectFailures++;
        resolve();
      } else if (!c.planned) stats.unplannedCloses++;
      if (active) {
        setTimeout(() => {
          if (!active) return;
          stats.reconnects++;
          void open(c);
        }, c.planned ? 50 : 1000);
      }
    };
  });
}

function pct(xs: number[], q: number): number | null {
  if (!xs.length) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function settle(force: boolean): void {
  const now = Date.now();
  for (const [id, [, at]] of jobs) {
    if (!force && now - at < JOB_SETTLE_MS) break;
    jobs.delete(id);
    stats.jobsLost++;
    bump(jobsLostBySecond, at, 1);
  }
  for (const [id, s] of outstanding) {
    if (!force && now - s.at < SETTLE_MS) break; // insertion order = send order
    outstanding.delete(id);
    if (s.waiting.size) {
      stats.lost += s.waiting.size;
      bump(lostBySecond, s.at, s.waiting.size);
      for (const idx of s.waiting) {
        const c = conns[idx];
        const k = byKind[c.kind];
        k.lost++;
        const told = c.notices.get(s.room)?.some((t) => t >= s.at && t <= s.at + SETTLE_MS + 5000);
        if (told) {
          k.lostTold++;
          if (c.kind === "history" && toldLogged++ < 30) {
            const iso = (t: number) => new Date(t).toISOString().slice(11, 23);
            const times = c.notices.get(s.room) ?? [];
            const reasons = c.reasons.get(s.room) ?? [];
            const joined = c.joinedAt.get(s.room);
            console.error(
              `TOLD conn=${idx} room=${s.room} sent=${iso(s.at)} joined=${
                joined === undefined ? "?" : iso(joined)
              } notices=${times.map((t, i) => `${iso(t)}:${reasons[i]}`).join(",")} server=${
                urls[idx % urls.length]
              }`,
            );
          }
        } else {
          k.lostSilent++;
          if (c.kind === "history") {
            bump(silentBySecond, s.at, 1);
            if (silentLogged++ < 20) {
              console.error(
                `SILENT conn=${idx} room=${s.room} sent=${s.at} joined=${c.joinedAt.get(s.room)} (${
                  s.at - (c.joinedAt.get(s.room) ?? 0)
                } ms before the send) notices=${
                  c.notices.get(s.room)?.join(",") ?? "none"
                } server=${urls[idx % urls.length]}`,
              );
            }
          }
        }
      }
    }
  }
}

// Connect in batches.
for (let i = 0; i < connCount; i++) {
  const kind: Kind = history && (i % 100) >= plainShare * 100 ? "history" : "plain";
  byKind[kind].connections++;
  conns.push({
    idx: i,
    kind,
    notices: new Map(),
    reasons: new Map(),
    joinedAt: new Map(),
    ws: undefined,
    open: false,
    planned: false,
    rooms: new Set(),
    pending: new Set(),
  });
}
for (let i = 0; i < connCount; i += 200) {
  await Promise.all(conns.slice(i, i + 200).map(open));
}
const startedAt = Date.now();
console.log(`ACTIVE ${startedAt}`);

const TICK = 100;
const ticker = setInterval(() => {
  for (const c of conns) {
    if (!c.open) continue;
    const r = Math.random();
    if (r < rate * TICK / 1000) say(c);
    else if (r < (rate + churn) * TICK / 1000) {
      if (
        c.rooms.size + c.pending.size < 3 &&
        (c.rooms.size === 0 || Math.random() < 0.5)
      ) join(c);
      else leave(c);
    } else if (r < (rate + churn + jobRate) * TICK / 1000) {
      work(c);
    } else if (r < (rate + churn + jobRate + reconnectRate) * TICK / 1000) {
      stats.plannedReconnects++;
      c.planned = true;
      forgetConnection(c);
      c.ws?.close(1000, "planned reconnect");
    }
  }
}, TICK);
const settler = setInterval(() => settle(false), 1000);
const progress = setInterval(() => {
  console.log(
    `PROGRESS ${
      JSON.stringify({
        t: Math.round((Date.now() - startedAt) / 1000),
        open: conns.filter((c) => c.open).length,
        ...stats,
      })
    }`,
  );
}, 10_000);

await new Promise((r) => setTimeout(r, seconds * 1000));
clearInterval(ticker);
console.log(`IDLE ${Date.now()}`);
// Chat deliveries need SETTLE_MS; jobs may be retried after a Redis outage, so wait up to 30 s
// for the last results.
const chatSettled = Date.now() + SETTLE_MS + 1000;
const jobsDeadline = Date.now() + 30_000;
while (
  Date.now() < chatSettled || (jobs.size > 0 && Date.now() < jobsDeadline)
) {
  await new Promise((r) => setTimeout(r, 500));
}
active = false;
clearInterval(settler);
clearInterval(progress);
settle(true);
const openAtEnd = conns.filter((c) => c.open).length;
for (const c of conns) {
  c.planned = true;
  c.ws?.close();
}
console.log(
  `RESULT ${
    JSON.stringify({
      ...stats,
      openAtEnd,
      seconds,
      lostBySecond: Object.fromEntries(lostBySecond),
      jobsLostBySecond: Object.fromEntries(jobsLostBySecond),
      jobP50: pct(jobLatencies, 0.5),
      jobP99: pct(jobLatencies, 0.99),
      refusedBySecond: Object.fromEntries(refusedBySecond),
      byKind,
      notices,
      recoveredNotices,
      silentBySecond: Object.fromEntries(silentBySecond),
    })
  }`,
);
Deno.exit(0);

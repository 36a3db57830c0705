/**
 * The inspector's HTML page: one self-contained document (inline style and script, nothing
 * loaded from elsewhere) that opens the inspector's WebSocket with the token of its own URL and
 * redraws its tables from every snapshot. Values are written with `textContent`, never as HTML:
 * group names and error details come from clients.
 *
 * @module
 */

/** The page, whose script connects to `socketPath` (same origin). */
export function inspectorPage(socketPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard inspector</title>
<style>
  :root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --line: #dde1e6; --muted: #66707a;
    --ok: #1a7f37; --bad: #cf222e; }
  @media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --card: #161b22; --line: #30363d;
    --muted: #8b949e; --ok: #3fb950; --bad: #f85149; } }
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
    background: var(--bg); }
  header { display: flex; gap: 16px; align-items: baseline; padding: 12px 20px;
    border-bottom: 1px solid var(--line); background: var(--card); }
  header h1 { font-size: 18px; margin: 0; }
  #status { font-weight: 600; }
  #status.live { color: var(--ok); } #status.down { color: var(--bad); }
  main { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px;
    padding: 16px 20px; }
  section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
    padding: 12px 14px; overflow: auto; max-height: 420px; }
  section h2 { font-size: 14px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em;
    color: var(--muted); }
  .cards { grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 12px; background: none;
    border: none; padding: 0; max-height: none; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
    padding: 10px 14px; min-width: 150px; }
  .card b { display: block; font-size: 24px; font-variant-numeric: tabular-nums; }
  .card span { color: var(--muted); }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 3px 8px 3px 0; border-bottom: 1px solid var(--line);
    white-space: nowrap; }
  td.n, th.n { text-align: right; }
  th { color: var(--muted); font-weight: 500; }
  .empty { color: var(--muted); font-style: italic; }
</style>
</head>
<body>
<header><h1>Switchboard inspector</h1><span id="status" class="down">connecting…</span>
<span id="at"></span></header>
<main>
  <section class="cards" id="cards"></section>
  <section><h2>Connections</h2><table id="consumers"></table></section>
  <section><h2>Rates per action</h2><table id="rates"></table></section>
  <section><h2>Groups (this process)</h2><table id="groups"></table></section>
  <section><h2>Recent errors</h2><table id="errors"></table></section>
  <section><h2>Job queue</h2><table id="queues"></table><table id="jobs"></table></section>
  <section><h2>Layer health</h2><table id="layers"></table></section>
  <section><h2>Open connections</h2><table id="connections"></table></section>
</main>
<script>
"use strict";
const SOCKET_PATH = ${JSON.stringify(socketPath)};
const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const fmt = (n, d = 0) => n === undefined || n === null ? "–"
  : Number(n).toLocaleString("en", { maximumFractionDigits: d, minimumFractionDigits: d });
function table(id, head, rows, numeric = []) {
  const t = $(id);
  t.replaceChildren();
  const tr = document.createElement("tr");
  head.forEach((h, i) => {
    const th = document.createElement("th");
    th.textContent = h;
    if (numeric.includes(i)) th.className = "n";
    tr.append(th);
  });
  t.append(tr);
  if (!rows.length) {
    const r = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = head.length;
    td.className = "empty";
    td.textContent = "none";
    r.append(td);
    t.append(r);
  }
  for (const row of rows) {
    const r = document.createElement("tr");
    row.forEach((v, i) => {
      const td = document.createElement("td");
      td.textContent = String(v);
      if (numeric.includes(i)) td.className = "n";
      r.append(td);
    });
    t.append(r);
  }
}
function card(label, value, id) {
  const c = document.createElement("div");
  c.className = "card";
  c.id = id;
  const b = document.createElement("b");
  b.textContent = value;
  const s = document.createElement("span");
  s.textContent = label;
  c.append(b, s);
  return c;
}
function render(s) {
  $("at").textContent = new Date(s.at).toLocaleTimeString();
  const inRate = s.rates.reduce((n, r) => n + r.inPerSecond, 0);
  const outRate = s.rates.reduce((n, r) => n + r.outPerSecond, 0);
  $("cards").replaceChildren(
    card("open connections", fmt(s.connections.total), "card-connections"),
    card("frames in / s", fmt(inRate, 1), "card-in"),
    card("frames out / s", fmt(outRate, 1), "card-out"),
    card("recent errors", fmt(s.errors.length), "card-errors"),
    card("layer lag p50 (ms)", s.layer.lagP50Ms === undefined ? "–" : "≤ " + fmt(s.layer.lagP50Ms, 2), "card-lag"),
    card("slow-client drops", fmt(s.totals.dropped), "card-drops"),
  );
  table("consumers", ["consumer", "open"],
    Object.entries(s.connections.byConsumer).sort((a, b) => b[1] - a[1]), [1]);
  table("rates", ["action", "in/s", "out/s", "in total", "out total"],
    s.rates.map((r) => [r.action, fmt(r.inPerSecond, 1), fmt(r.outPerSecond, 1), fmt(r.inTotal), fmt(r.outTotal)]),
    [1, 2, 3, 4]);
  table("groups", ["group", "members"], s.groups.map((g) => [g.group, fmt(g.members)]), [1]);
  table("errors", ["time", "type", "detail"],
    s.errors.map((e) => [new Date(e.at).toLocaleTimeString(), e.type, e.detail]));
  table("queues", ["queue", "queued", "delayed", "running", "status"],
    s.jobs.queues.map((q) => [q.name, fmt(q.queued), fmt(q.delayed), fmt(q.running), q.error ? "error: " + q.error : "ok"]),
    [1, 2, 3]);
  table("jobs", ["job", "outcome", "tries"], s.jobs.finished.map((j) => [j.name, j.outcome, fmt(j.count)]), [2]);
  table("layers", ["layer", "state", "since", "reason"],
    s.layer.layers.map((l) => [l.alias, l.up ? "up" : "DOWN", new Date(l.since).toLocaleTimeString(), l.reason])
      .concat([["(connections)", "published " + fmt(s.layer.published), "received " + fmt(s.layer.received), "resyncs " + fmt(s.layer.resyncs)]]));
  table("connections", ["consumer", "channel", "groups", "topics", "buffered"],
    s.connections.list.map((c) => [c.consumer, c.channel, c.groups.join(", "), c.subscriptions, fmt(c.buffered)]),
    [3, 4]);
}
let delay = 500;
function connect() {
  const url = new URL(SOCKET_PATH, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("token", token);
  const ws = new WebSocket(url);
  ws.onopen = () => { delay = 500; $("status").textContent = "live"; $("status").className = "live"; };
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.action === "inspector.snapshot") render(frame.payload);
  };
  ws.onclose = () => {
    $("status").textContent = "disconnected, retrying…";
    $("status").className = "down";
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 10000);
  };
}
connect();
</script>
</body>
</html>
`;
}

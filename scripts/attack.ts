/**
 * `deno task attack [URL]`: runs the cheap attacks of issue 15 against a running tutorial app and
 * reports each as `holds` or `broken`. Without a URL it starts the app itself (`examples/tutorial`
 * on a free loopback port, its own API token, a rate limit) and stops it at the end; with a URL
 * (`http://127.0.0.1:8080`) it attacks that app, using API_TOKEN from the environment for the
 * body-size attack. Loopback only; every attack is bounded in count and time. Exit code 1 when
 * anything is broken. Runs with --allow-all: the app's peak memory is read from /proc.
 */

const ROOT = new URL("../", import.meta.url);
const MiB = 1024 * 1024;

interface Target {
  http: string;
  ws: string;
  token: string | undefined;
  pid: number | undefined;
}

interface Outcome {
  holds: boolean;
  detail: string;
}

type Attack = (t: Target) => Promise<Outcome>;

const holds = (detail: string): Outcome => ({ holds: true, detail });
const broken = (detail: string): Outcome => ({ holds: false, detail });

function timeout<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Peak resident memory of `pid` in MiB (Linux), if known. */
function peakRssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = /VmHWM:\s+(\d+)/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : undefined;
  } catch (error) {
    console.warn(`attack: cannot read the app's memory: ${error}`);
    return undefined;
  }
}

/** A WebSocket with a queue of received frames and its close event. */
class Socket {
  readonly ws: WebSocket;
  readonly frames: string[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;
  #waiters: (() => void)[] = [];

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error(`cannot open ${url}`));
    });
    this.closed = new Promise((resolve) => this.ws.onclose = resolve);
    this.ws.onmessage = (e) => {
      this.frames.push(typeof e.data === "string" ? e.data : "<binary>");
      for (const w of this.#waiters.splice(0)) w();
    };
    this.opened.catch(() => {});
  }

  static async open(url: string): Promise<Socket> {
    const s = new Socket(url);
    await timeout(5000, `open ${url}`, s.opened);
    return s;
  }

  /** Waits until `predicate` holds for the frames received (bounded by `ms`). */
  async until(predicate: (frames: string[]) => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate(this.frames)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: not within ${ms} ms`);
      await timeout(left, what, new Promise<void>((r) => this.#waiters.push(r)));
    }
  }

  close(): void {
    try {
      this.ws.close();
    } catch {
      // already closed
    }
  }
}

const actions = (frames: string[]) => frames.map((f) => f.includes('"pong"') ? "pong" : f);
const pongs = (frames: string[]) => actions(frames).filter((a) => a === "pong").length;

const ATTACKS: Record<string, Attack> = {
  async "long dash topic name (room:a + 200,000 '-' + a) is handled in linear time"(t) {
    const attacker = await Socket.open(`${t.ws}/ws/topics`);
    const bystander = await Socket.open(`${t.ws}/ws/topics`);
    try {
      const topic = `room:a${"-".repeat(200_000)}a`;
      const start = performance.now();
      attacker.ws.send(JSON.stringify({ topic, ref: "1", action: "subscribe" }));
      // The server is single-threaded: the time to answer this one frame is time every other
      // client waited.
      try {
        await attacker.until((f) => f.some((x) => x.includes('"ref":"1"')), 5000, "answer");
      } catch {
        return broken("no answer to the frame within 5 s (the event loop is blocked)");
      }
      const ms = Math.round(performance.now() - start);
      bystander.ws.send(JSON.stringify({ action: "ping" }));
      await bystander.until((f) => pongs(f) >= 1, 5000, "pong");
      return ms < 1000 ? holds(`answered in ${ms} ms`) : broken(`answered in ${ms} ms`);
    } finally {
      attacker.close();
      bystander.close();
    }
  },

  async "1 MiB unknown action: the error frame is small"(t) {
    const s = await Socket.open(`${t.ws}/ws/system`);
    try {
      await s.until((f) => f.length >= 1, 3000, "welcome");
      const before = s.frames.length;
      const sent = JSON.stringify({ action: "x".repeat(MiB - 64) });
      s.ws.send(sent);
      await s.until((f) => f.length > before, 5000, "error frame");
      const size = s.frames.slice(before).reduce((n, f) => n + f.length, 0);
      return size <= 16 * 1024
        ? holds(`${sent.length} bytes in, ${size} bytes out`)
        : broken(`${sent.length} bytes in, ${size} bytes out`);
    } finally {
      s.close();
    }
  },

  async "GET /static/constructor is a 404"(t) {
    const r = await fetch(`${t.http}/static/constructor`);
    const body = (await r.text()).slice(0, 80);
    return r.status === 404 ? holds("404") : broken(`${r.status} ${JSON.stringify(body)}`);
  },

  async "oversize frame (32 MiB) closes with 1009 without buffering it"(t) {
    const s = await Socket.open(`${t.ws}/ws/system`);
    const before = peakRssMiB(t.pid);
    s.ws.send("x".repeat(32 * MiB));
    const event = await timeout(15_000, "close", s.closed).catch(() => undefined);
    const after = peakRssMiB(t.pid);
    s.close();
    if (!event) return broken("not closed within 15 s");
    const grew = before !== undefined && after !== undefined ? after - before : undefined;
    const mem = grew === undefined ? "" : `, peak RSS +${Math.round(grew)} MiB`;
    if (event.code !== 1009) return broken(`closed with ${event.code}${mem}`);
    if (grew !== undefined && grew > 24) return broken(`closed with 1009${mem}`);
    return holds(`closed with 1009${mem}`);
  },

  async "cross-site text/plain POST /api/announce (CSRF) is refused"(t) {
    const r = await fetch(`${t.http}/api/announce`, {
      method: "POST",
      headers: { "content-type": "text/plain", origin: "https://evil.example" },
      body: JSON.stringify({ message: "csrf" }),
    });
    await r.body?.cancel();
    return r.status >= 400 && r.status < 500 ? holds(`${r.status}`) : broken(`${r.status}`);
  },

  async "64 MiB body to POST /api/announce is cut short with 413"(t) {
    const total = 64 * MiB;
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= total) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (t.token) headers.authorization = `Bearer ${t.token}`;
    const r = await timeout(
      30_000,
      "big body",
      fetch(`${t.http}/api/announce`, { method: "POST", headers, body }),
    );
    await r.body?.cancel();
    const read = `${Math.round(sent / MiB)} of 64 MiB sent`;
    if (!t.token) {
      return holds(`${r.status} without a token (set API_TOKEN to test the cap); ${read}`);
    }
    return r.status === 413 && sent < total / 2
      ? holds(`413, ${read}`)
      : broken(`${r.status}, ${read}`);
  },

  async "2,000 topic subscriptions on one socket hit a limit"(t) {
    const s = await Socket.open(`${t.ws}/ws/topics`);
    try {
      const n = 2000;
      const batch = 200; // paced under the app's rate limit (500 frames/s when started here)
      const answered = (f: string[]) => f.filter((x) => /"ref":"s\d+"/.test(x)).length;
      for (let i = 0; i < n; i += batch) {
        for (let j = i; j < i + batch; j++) {
          s.ws.send(JSON.stringify({ topic: `room:t${j}`, ref: `s${j}`, action: "subscribe" }));
        }
        await s.until((f) => answered(f) >= i + batch, 10_000, "subscription answers");
        await new Promise((r) => setTimeout(r, 450)); // let the rate limit's bucket refill
      }
      const ok = s.frames.filter((f) => f.includes('"subscribed"')).length;
      const errors = s.frames.filter((f) => f.includes('"error"') && !f.includes("rate_limited"));
      return errors.length > 0 && ok < n
        ? holds(`${ok} accepted, ${errors.length} refused: ${errors[0].slice(0, 120)}`)
        : broken(`${ok} of ${n} accepted, none refused`);
    } finally {
      s.close();
    }
  },

  async "2,000-frame burst: rate limit closes with 1008 after the admitted replies"(t) {
    const s = await Socket.open(`${t.ws}/ws/topics`);
    const n = 2000;
    for (let i = 0; i < n; i++) s.ws.send(JSON.stringify({ action: "ping" }));
    const event = await timeout(15_000, "close", s.closed).catch(() => undefined);
    s.close();
    const limited = s.frames.filter((f) => f.includes("rate_limited")).length;
    const got = `${pongs(s.frames)} pongs, ${limited} rate_limited`;
    if (!event) return broken(`not closed within 15 s (${got}; is a rate limit configured?)`);
    return event.code === 1008
      ? holds(`closed 1008; ${got}`)
      : broken(`closed ${event.code}; ${got}`);
  },

  async "200 connections that never finish their headers are dropped within 15 s"(t) {
    const { hostname, port } = new URL(t.http);
    const conns: Deno.Conn[] = [];
    for (let i = 0; i < 200; i++) {
      const c = await Deno.connect({ hostname, port: Number(port) });
      await c.write(new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${hostname}\r\nX-Slow: `));
      conns.push(c);
    }
    const start = performance.now();
    const ended = await Promise.all(conns.map(async (c) => {
      const buf = new Uint8Array(1024);
      try {
        await timeout(
          15_000,
          "slow headers",
          (async () => {
            while ((await c.read(buf)) !== null) { /* the server's answer (408) */ }
          })(),
        );
        return true;
      } catch {
        return false;
      } finally {
        try {
          c.close();
        } catch {
          // closed
        }
      }
    }));
    const dropped = ended.filter(Boolean).length;
    const s = Math.round((performance.now() - start) / 100) / 10;
    return dropped === conns.length
      ? holds(`all ${dropped} dropped within ${s} s`)
      : broken(`${conns.length - dropped} of ${conns.length} still held after 15 s`);
  },
};

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts the tutorial app on a free loopback port; resolves once it listens. */
async function startApp(): Promise<{ target: Target; stop: () => Promise<void> }> {
  const port = freePort();
  const token = crypto.randomUUID();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-run",
      "examples/tutorial/main.ts",
    ],
    cwd: ROOT.pathname,
    env: { PORT: String(port), HOST: "127.0.0.1", API_TOKEN: token, RATE_LIMIT_PER_SECOND: "500" },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  await timeout(
    60_000,
    "the app to listen",
    (async () => {
      while (!seen.includes("Switchboard tutorial on http://")) {
        const { done, value } = await lines.read();
        if (done) throw new Error(`the app exited before listening:\n${seen}`);
        seen += value;
      }
    })(),
  );
  // Keep draining its output so that it never blocks on a full pipe.
  const draining = (async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })();
  return {
    target: {
      http: `http://127.0.0.1:${port}`,
      ws: `ws://127.0.0.1:${port}`,
      token,
      pid: child.pid,
    },
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      await child.status;
      await draining.catch(() => {});
    },
  };
}

async function main(): Promise<number> {
  const url = Deno.args[0];
  let target: Target;
  let stop = async () => {};
  if (url) {
    const u = new URL(url);
    if (!["127.0.0.1", "localhost", "[::1]"].includes(u.hostname)) {
      console.error(`attack: loopback targets only (got ${u.hostname})`);
      return 2;
    }
    target = {
      http: u.origin,
      ws: u.origin.replace(/^http/, "ws"),
      token: Deno.env.get("API_TOKEN") || undefined,
      pid: undefined,
    };
  } else {
    const started = await startApp();
    target = started.target;
    stop = started.stop;
    console.log(`attack: started the tutorial app on ${target.http} (pid ${target.pid})`);
  }
  let failures = 0;
  try {
    for (const [name, attack] of Object.entries(ATTACKS)) {
      let outcome: Outcome;
      try {
        outcome = await timeout(60_000, name, attack(target));
      } catch (error) {
        outcome = broken(`${(error as Error).message ?? error}`);
      }
      if (!outcome.holds) failures++;
      console.log(`${outcome.holds ? "holds " : "BROKEN"}  ${name} — ${outcome.detail}`);
      // The app must still answer after each attack.
      const alive = await fetch(`${target.http}/healthz`).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      }).catch(() => 0);
      if (alive !== 200) {
        console.log(`BROKEN  the app answers /healthz with ${alive || "nothing"} after that`);
        failures++;
      }
    }
  } finally {
    await stop();
  }
  const total = Object.keys(ATTACKS).length;
  console.log(`attack: ${total - Math.min(failures, total)} of ${total} hold, ${failures} broken`);
  return failures ? 1 : 0;
}

Deno.exit(await main());

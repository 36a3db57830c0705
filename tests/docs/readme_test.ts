/**
 * README.md's quick start and testing snippet, run exactly as printed: both blocks are written to
 * a scratch directory, the test file runs with the `deno test` command the README gives, and the
 * server runs with its `deno run` command while a real WebSocket client checks the frames the
 * README promises (the broadcast, the error frame, the connection staying open).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { spawnApp } from "../../testing/spawn_app.ts";
import { codeBlocks, namedBlock, ROOT } from "./markdown.ts";

const README = await Deno.readTextFile(join(ROOT, "README.md"));
const BLOCKS = codeBlocks(README);
const CONFIG = join(ROOT, "deno.json");

/** The README's `deno <sub> … <file>` command, as arguments, run against this repository's imports. */
function command(sub: "run" | "test", file: string): string[] {
  const found = new RegExp("`deno " + sub + " ([^`]*?)" + file.replace(".", "\\.") + "`").exec(
    README,
  );
  assert.ok(found, `README.md gives no \`deno ${sub} … ${file}\` command`);
  const flags = found[1].split(/\s+/).filter(Boolean);
  return [sub, "--config", CONFIG, ...flags, file];
}

async function scratch(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-readme-" });
  for (const name of ["main.ts", "main_test.ts"]) {
    await Deno.writeTextFile(join(dir, name), namedBlock(BLOCKS, name, "README.md").code);
  }
  return dir;
}

Deno.test("README: the testing snippet passes against the quick start, as printed", async () => {
  const dir = await scratch();
  try {
    // The snippet must not depend on the test suite's environment (SEND_COMPLETION…).
    const env: Record<string, string> = { NO_COLOR: "1" };
    for (const key of ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME"]) {
      const value = Deno.env.get(key);
      if (value !== undefined) env[key] = value;
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: command("test", "main_test.ts"),
      cwd: dir,
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, text);
    assert.match(text, /room chat \.\.\. ok/);
    assert.match(text, /ok \| 1 passed \| 0 failed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The frames the quick start's prose promises. */
function promises() {
  const m = /A client sends `([^`]+)` and\s+everyone in `([^`]+)` receives `([^`]+)`/.exec(README);
  assert.ok(m, "README.md no longer says what a client sends and receives");
  const bad = /Bad input, such as `([^`]+)`, gets an error frame/.exec(README);
  assert.ok(bad, "README.md no longer shows the bad input");
  const error = BLOCKS.find((b) =>
    b.lang === "json" && b.line > README.slice(0, bad.index).split("\n").length
  );
  assert.ok(error, "README.md has no error frame after the bad input");
  return {
    send: m[1],
    path: m[2],
    receive: JSON.parse(m[3]),
    bad: bad[1],
    error: JSON.parse(error.code),
  };
}

/**
 * The port from Deno.serve's "Listening on http://0.0.0.0:PORT/" line (on stderr); the rest of
 * stderr is passed on. Fails if the server exits first, or prints nothing like it within 60 s.
 */
class Client {
  readonly #frames: unknown[] = [];
  readonly #waiters: Array<() => void> = [];
  readonly closed: Promise<void>;
  constructor(readonly ws: WebSocket) {
    ws.onmessage = (e) => {
      this.#frames.push(JSON.parse(e.data));
      this.#waiters.splice(0).forEach((w) => w());
    };
    this.closed = new Promise((resolve) => ws.addEventListener("close", () => resolve()));
  }
  static async open(url: string): Promise<Client> {
    const client = new Client(new WebSocket(url));
    await new Promise((resolve, reject) => {
      client.ws.onopen = resolve;
      client.ws.onerror = (e) =>
        reject(new Error(`cannot connect to ${url}: ${(e as ErrorEvent).message}`));
    });
    return client;
  }
  async next(): Promise<unknown> {
    while (this.#frames.length === 0) await new Promise<void>((r) => this.#waiters.push(r));
    return this.#frames.shift();
  }
  async close(): Promise<void> {
    this.ws.close();
    await this.closed;
  }
}

Deno.test("README: the quick start server, run as printed, answers as the README says", async () => {
  const { send, path, receive, bad, error } = promises();
  const dir = await scratch();
  // The kit's spawnApp: PORT is a free port, ready once Deno.serve says it listens on it.
  const child = await spawnApp("", { NO_COLOR: "1" }, {
    command: [Deno.execPath(), ...command("run", "main.ts")],
    cwd: dir,
    ready: /Listening on https?:\/\//,
    startTimeoutMs: 60_000,
  }).catch(async (error) => {
    await Deno.remove(dir, { recursive: true });
    throw error;
  });
  try {
    const url = `${child.url}${path}`;
    const alice = await Client.open(url);
    const bob = await Client.open(url);
    try {
      alice.ws.send(send);
      assert.deepEqual(await bob.next(), receive);
      assert.deepEqual(await alice.next(), receive); // the sender is in the room too
      alice.ws.send(bad);
      assert.deepEqual(await alice.next(), error);
      alice.ws.send(JSON.stringify({ action: "ping" })); // still open
      assert.deepEqual(await alice.next(), { action: "pong", payload: null });
    } finally {
      await alice.close();
      await bob.close();
    }
  } finally {
    await child.kill("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});

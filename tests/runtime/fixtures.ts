/**
 * The app the runtime suite serves on every runtime: an echo endpoint, rooms, a guarded endpoint.
 * Public API only (the package's entry points), so that moving files inside the library does not
 * touch it. Each consumer reports what the server saw to a {@linkcode Probe}.
 *
 * @module
 */
import { z } from "zod";
import {
  App,
  type AppOptions,
  Consumer,
  layers,
  message,
  type MessageOf,
  Ping,
  Pong,
  safeGroupName,
  wsHandler,
} from "@switchboard/switchboard";

// --- messages ---

/** Asks what the server kept of the upgrade request ({@linkcode Request_}). */
export const WhoAmI = message("who_am_i");
/** The upgrade request as a handler sees it after the upgrade. */
export const Request_ = message(
  "request",
  z.object({ team: z.string().nullable(), token: z.string().nullable(), path: z.string() }),
);

/** Echoed back as {@linkcode Said}. */
export const Say = message("say", z.object({ text: z.string().min(1) }));
/** The echo of {@linkcode Say}. */
export const Said = message("said", z.object({ text: z.string() }));
/** Asks the server to close this connection with `code` and `reason`. */
export const Bye = message("bye", z.object({ code: z.number().int(), reason: z.string() }));
/** A line posted to the sender's room. */
export const Chat = message("chat", z.object({ text: z.string() }));
/** A room line, as every member of the room receives it. */
export const Chatted = message("chatted", z.object({ room: z.string(), text: z.string() }));
/** Sent to a room member once it has joined the room's group (the test's signal to go on). */
export const Joined = message("joined", z.object({ room: z.string() }));

/** The layer alias of the room consumer; each room test registers a fresh in-memory layer. */
export const ROOM_LAYER = "runtime-suite";

// --- what the server saw ---

/** Server-side observations of one test. */
export class Probe {
  /** `authenticate` calls. */
  authenticated = 0;
  /** `postAuthentication` calls (accepted connections). */
  connected = 0;
  /** Close codes seen by `onDisconnect`, in order. */
  readonly disconnects: number[] = [];
  #waiters: Array<() => void> = [];

  /**
   * The code of the `n`-th `onDisconnect` (1-based), once it has run; rejects after `timeout` ms
   * so that a missing disconnect fails the test instead of hanging it.
   */
  async disconnect(n: number, timeout = 5000): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => {
          const check = () => this.disconnects.length >= n ? resolve() : this.#waiters.push(check);
          check();
        }),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`onDisconnect #${n} did not run within ${timeout} ms`)),
            timeout,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return this.disconnects[n - 1];
  }

  /** Records an `onDisconnect`. */
  disconnected(code: number): void {
    this.disconnects.push(code);
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** The probe of the running test (tests run one at a time; {@linkcode makeApp} replaces it). */
export let probe: Probe = new Probe();

// --- consumers ---

/** `/echo`: ping → pong, say → said, bye → the server closes with the asked code. */
export class EchoConsumer extends Consumer {
  static override layer: null = null;
  static override sendCompletion = true;

  override authenticate(): boolean {
    probe.authenticated++;
    return true;
  }

  override postAuthentication(): void {
    probe.connected++;
  }

  override onDisconnect(code: number): void {
    probe.disconnected(code);
  }

  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(Say, { output: Said })
  handleSay(m: MessageOf<typeof Say>): MessageOf<typeof Said> {
    return Said.create({ text: m.payload.text });
  }

  @wsHandler(Bye)
  handleBye(m: MessageOf<typeof Bye>): void {
    this.close(m.payload.code, m.payload.reason);
  }
}

/** `/room/:room`: joins the room's group, then says {@linkcode Joined}; chat goes to the room. */
export class RoomConsumer extends Consumer {
  static override layer = ROOM_LAYER;
  static override sendCompletion = true;

  get #group(): string {
    return safeGroupName([this.params.room], "room");
  }

  override async postAuthentication(): Promise<void> {
    await this.joinGroup(this.#group);
    await this.sendMessage(Joined.create({ room: this.params.room }));
  }

  @wsHandler(Chat, { output: Chatted })
  async handleChat(m: MessageOf<typeof Chat>): Promise<void> {
    await this.broadcastMessage(
      Chatted.create({ room: this.params.room, text: m.payload.text }),
      { groups: [this.#group] },
    );
  }
}

/** `/guarded?token=…`: `good` is accepted, `expired` gets a 401 Response, anything else `false`. */
export class GuardedConsumer extends Consumer {
  static override layer: null = null;
  static override sendCompletion = true;

  override authenticate(request: Request): boolean | Response {
    probe.authenticated++;
    const token = new URL(request.url).searchParams.get("token");
    if (token === "expired") return new Response("token expired", { status: 401 });
    return token === "good";
  }

  override postAuthentication(): void {
    probe.connected++;
  }

  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  /** The request's headers, query and URL, read in a handler long after the upgrade. */
  @wsHandler(WhoAmI, { output: Request_ })
  handleWhoAmI(_m: MessageOf<typeof WhoAmI>): MessageOf<typeof Request_> {
    return Request_.create({
      team: this.request.headers.get("x-team"),
      token: this.query.get("token"),
      path: new URL(this.request.url).pathname,
    });
  }
}

/**
 * A fresh app with `options` and a fresh {@linkcode probe}. `/room/:room` is mounted only while
 * a layer is registered under {@linkcode ROOM_LAYER} (the room test registers one first), so
 * that the other tests' apps pass the start-time check instead of logging a missing layer.
 */
export function makeApp(options: AppOptions = {}): App {
  probe = new Probe();
  const app = new App(options).ws("/echo", EchoConsumer).ws("/guarded", GuardedConsumer);
  return layers.has(ROOM_LAYER) ? app.ws("/room/:room", RoomConsumer) : app;
}

/** Consumers and helpers shared by the core tests. */
import { z } from "zod";
import {
  App,
  Consumer,
  eventHandler,
  InMemoryChannelLayerForTests,
  layers,
  message,
  type MessageOf,
  Ping,
  Pong,
  wsHandler,
} from "./deps.ts";

export const Say = message(
  "say",
  z.object({ text: z.string().min(1), n: z.number().int().optional() }),
);
export const Said = message("said", z.object({ text: z.string() }));
export const Boom = message("boom");
export const Slow = message("slow", z.object({ ms: z.number(), tag: z.string() }));
export const Tagged = message("tagged", z.object({ tag: z.string() }));
export const Shout = message(
  "shout",
  z.object({ text: z.string(), exclude: z.boolean().default(false) }),
);
export const Shouted = message("shouted", z.object({ text: z.string() }));
export const Notify = message("notify", z.object({ text: z.string() }));
export const Notified = message("notified", z.object({ text: z.string() }));
export const Explode = message("explode");
export const Forwarded = message("forwarded", z.object({ value: z.number() }));

/** The layer alias every core test consumer uses; each test file registers a fresh one. */
export const ALIAS = "core-tests";

/** A consumer exercising every core path. */
export class EchoConsumer extends Consumer<
  MessageOf<typeof Notify> | MessageOf<typeof Explode> | MessageOf<typeof Forwarded>
> {
  static override layer = ALIAS;
  static override groups = ["echo-all"];
  static override sendCompletion = true;
  static override passthroughEvents = [Forwarded];
  static disconnects: string[] = [];
  /** Resolves on the next onDisconnect (tests await it instead of polling). */
  static nextDisconnect: PromiseWithResolvers<string> = Promise.withResolvers();

  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(Say, { output: Said })
  handleSay(m: MessageOf<typeof Say>): MessageOf<typeof Said> {
    return Said.create({ text: m.payload.text });
  }

  @wsHandler(Boom)
  handleBoom(_m: MessageOf<typeof Boom>): void {
    throw new Error("kaboom");
  }

  @wsHandler(Slow, { output: Tagged })
  async handleSlow(m: MessageOf<typeof Slow>): Promise<MessageOf<typeof Tagged>> {
    await new Promise((r) => setTimeout(r, m.payload.ms));
    return Tagged.create({ tag: m.payload.tag });
  }

  @wsHandler(Shout)
  async handleShout(m: MessageOf<typeof Shout>): Promise<void> {
    await this.broadcastMessage(Shouted.create({ text: m.payload.text }), {
      excludeCurrent: m.payload.exclude,
    });
  }

  @eventHandler(Notify, { output: Notified })
  onNotify(e: MessageOf<typeof Notify>): MessageOf<typeof Notified> {
    return Notified.create({ text: e.payload.text });
  }

  @eventHandler(Explode)
  onExplode(_e: MessageOf<typeof Explode>): void {
    throw new Error("event kaboom");
  }

  override onDisconnect(code: number): void {
    const entry = `${"name" in this.params ? this.params.name : "?"}:${code}`;
    EchoConsumer.disconnects.push(entry);
    EchoConsumer.nextDisconnect.resolve(entry);
  }
}

/** Same handlers, completion signals off. */
export class QuietConsumer extends EchoConsumer {
  static override sendCompletion = false;
}

/** Refuses unless `?token=good`; 401 with a body for `?token=expired`. */
export class GuardedConsumer extends Consumer {
  static override layer = ALIAS;
  static seen: Array<{ token: string | null; room: string }> = [];
  static connected = 0;

  override authenticate(request: Request): boolean | Response {
    const token = new URL(request.url).searchParams.get("token");
    GuardedConsumer.seen.push({ token, room: this.params.room });
    if (token === "expired") return new Response("token expired", { status: 401 });
    if (token === "throw") throw new Error("auth backend down");
    return token === "good";
  }

  override postAuthentication(): void {
    GuardedConsumer.connected++;
  }

  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
}

/** Registers a fresh in-memory layer under {@linkcode ALIAS}; returns it. */
export function freshLayer(): InMemoryChannelLayerForTests {
  const layer = new InMemoryChannelLayerForTests();
  layers.register(ALIAS, layer);
  return layer;
}

/** The app of the core tests. */
export function makeApp(options: { maxFrameBytes?: number } = {}): App {
  return new App(options)
    .ws("/echo", EchoConsumer)
    .ws("/echo/:name", EchoConsumer)
    .ws("/quiet", QuietConsumer)
    .ws("/guarded/:room", GuardedConsumer);
}

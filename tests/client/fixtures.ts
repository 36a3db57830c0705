/** An app for the client tests: echo, broadcast, a held request, auth by header, a topic hub. */
import { z } from "zod";
import { App, Consumer, message, type MessageOf, Ping, Pong, Topic, wsHandler } from "../../mod.ts";
import { clientApi } from "../../client/mod.ts";

export const Say = message(
  "say",
  z.object({ text: z.string().min(1), loud: z.boolean().default(false) }),
);
export const Said = message("said", z.object({ text: z.string(), loud: z.boolean() }));
export const Shout = message("shout", z.object({ text: z.string() }));
export const Shouted = message("shouted", z.object({ text: z.string() }));
export const Hold = message("hold", z.object({ tag: z.string() }));
export const Quiet = message("quiet");
export const Boom = message("boom");
export const Post = message("post", z.object({ body: z.string() }));
export const Posted = message("posted", z.object({ body: z.string() }));
export const RoomEvent = message("room_event", z.object({ body: z.string() }));

/** Requests of `hold` wait here until a test releases them (or the connection drops). */
export const held: Array<(reply: string) => void> = [];
let heldWaiter: (() => void) | undefined;
/** Resolves once a `hold` request is waiting on the server. */
export function nextHeld(): Promise<void> {
  if (held.length) return Promise.resolve();
  return new Promise((resolve) => heldWaiter = resolve);
}

/** Echo with completion signals on. */
export class EchoConsumer extends Consumer {
  static override sendCompletion = true;
  static override groups = ["echo-all"];
  static readonly api = clientApi({ send: [Ping, Say, Shout, Hold, Quiet, Boom] });
  static override broadcasts = [Shouted];

  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
  @wsHandler(Say, { output: Said })
  handleSay(m: MessageOf<typeof Say>): MessageOf<typeof Said> {
    return Said.create(m.payload);
  }
  @wsHandler(Shout, { output: Shouted })
  async handleShout(m: MessageOf<typeof Shout>): Promise<void> {
    await this.broadcastMessage(Shouted.create({ text: m.payload.text }));
  }
  @wsHandler(Hold, { output: Said })
  async handleHold(m: MessageOf<typeof Hold>): Promise<MessageOf<typeof Said>> {
    const text = await new Promise<string>((resolve) => {
      held.push(resolve);
      heldWaiter?.();
      heldWaiter = undefined;
    });
    return Said.create({ text: `${m.payload.tag}:${text}`, loud: false });
  }
  @wsHandler(Quiet)
  handleQuiet(_m: MessageOf<typeof Quiet>): void {}
  @wsHandler(Boom)
  handleBoom(_m: MessageOf<typeof Boom>): void {
    throw new Error("boom");
  }
}

/** Completion signals off (the production default): a handler that replies nothing never answers. */
export class QuietConsumer extends Consumer {
  @wsHandler(Quiet)
  handleQuiet(_m: MessageOf<typeof Quiet>): void {}
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
}

/** Accepts only upgrades with `x-token: secret`. */
export class TokenConsumer extends Consumer {
  override authenticate(request: Request): boolean {
    return request.headers.get("x-token") === "secret";
  }
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
}

/** `room:{name}`: post broadcasts a room_event, echo-like `posted` replies to the sender. */
export class RoomTopic extends Topic<MessageOf<typeof RoomEvent>> {
  static override pattern = "room:{name}";
  static override passthroughEvents = [RoomEvent];
  @wsHandler(Post, { output: [Posted, RoomEvent] })
  async handlePost(m: MessageOf<typeof Post>): Promise<MessageOf<typeof Posted>> {
    await RoomTopic.broadcast(this.topic, RoomEvent.create({ body: m.payload.body }));
    return Posted.create({ body: m.payload.body });
  }
}

/** Hosts the room topic. */
export class HubConsumer extends Consumer {
  static override topics = [RoomTopic];
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
}

/** A fresh app with every test consumer. */
export function createTestApp(): App {
  return new App({ heartbeatSeconds: 0 })
    .ws("/ws/echo", EchoConsumer)
    .ws("/ws/quiet", QuietConsumer)
    .ws("/ws/token", TokenConsumer)
    .ws("/ws/hub", HubConsumer)
    .ws("/ws/room/:name", RoomTopic.asConsumer());
}

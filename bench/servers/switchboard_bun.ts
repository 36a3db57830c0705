/**
 * The Switchboard side of the Bun rows, served on Bun by adapters/bun (native group fan-out on).
 *
 * `bun --tsconfig-override=bun.tsconfig.json run bench/servers/switchboard_bun.ts <echo|fanout>`
 * prints `READY <port>`. The same consumers (and decorators) as bench/servers/switchboard.ts: `/ws/echo` (`say`
 * validated by zod, a typed `said` back), `/ws/room` (joins group `room`), `/ws/sender` (a `shout`
 * broadcast to the room with `broadcastMessage` on the in-memory layer).
 *
 * @module
 */
import process from "node:process";
import { z } from "zod";
import { App, Consumer, message, type MessageOf, Ping, Pong, wsHandler } from "../../mod.ts";
import { serve } from "../../adapters/bun/mod.ts";

const Say = message("say", z.object({ text: z.string(), n: z.number().int() }));
const Said = message(
  "said",
  z.object({ text: z.string(), n: z.number().int() }),
);
const Shout = message(
  "shout",
  z.object({ text: z.string(), n: z.number().int() }),
);

class EchoConsumer extends Consumer {
  @wsHandler(Say, { output: Said })
  handleSay(m: MessageOf<typeof Say>) {
    return Said.create(m.payload);
  }
}

class RoomConsumer extends Consumer {
  static override groups = ["room"];
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Pong.create();
  }
}

class SenderConsumer extends Consumer {
  @wsHandler(Shout)
  async handleShout(m: MessageOf<typeof Shout>) {
    await this.broadcastMessage(Said.create(m.payload), { groups: "room" });
  }
}

const app = new App({ allowedOrigins: "*" })
  .ws("/ws/echo", EchoConsumer)
  .ws("/ws/room", RoomConsumer)
  .ws("/ws/sender", SenderConsumer);

const server = await serve(app, {
  port: 0,
  nativeFanout: process.env.NATIVE_FANOUT !== "0",
  onListen: ({ port }) => console.log(`READY ${port}`),
});
process.once("SIGTERM", async () => {
  const stats = server.handler.fanout;
  if (stats) {
    console.error(
      `fan-out: ${stats.native} native, ${stats.declined} declined`,
    );
  }
  await server.close();
  process.exit(0);
});

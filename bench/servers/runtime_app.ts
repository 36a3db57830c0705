/**
 * The app of the Bun and Node rows (bench/servers/switchboard_bun.ts, switchboard_node.ts): the
 * same consumers as bench/servers/switchboard.ts — `/ws/echo` (`say` validated by zod, a typed
 * `said` back), `/ws/room` (joins group `room`), `/ws/sender` (a `shout` broadcast to the room with
 * `broadcastMessage` on the in-memory layer), `/ws/idle` (an ordinary consumer, nothing else) and
 * `GET /mem` (`{rss, heapUsed, heapTotal, external, connections}` after a GC: run Node with
 * `--expose-gc`; Bun's `Bun.gc(true)` needs no flag).
 *
 * @module
 */
import process from "node:process";
import { z } from "zod";
import {
  App,
  Consumer,
  layers,
  message,
  type MessageOf,
  Ping,
  Pong,
  wsHandler,
} from "../../mod.ts";

/** The echo's input. */
export const Say = message("say", z.object({ text: z.string(), n: z.number().int() }));
/** The echo's reply, and the broadcast's message. */
export const Said = message(
  "said",
  z.object({ text: z.string(), n: z.number().int() }),
);
/** What the sender sends to be broadcast. */
export const Shout = message(
  "shout",
  z.object({ text: z.string(), n: z.number().int() }),
);

/** `say` validated by zod, a typed `said` back (bench/servers/switchboard.ts serves it too). */
export class EchoConsumer extends Consumer {
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

const SENDER_AWAIT = process.env.SENDER_AWAIT !== "0";

class SenderConsumer extends Consumer {
  @wsHandler(Shout)
  async handleShout(m: MessageOf<typeof Shout>) {
    const sent = this.broadcastMessage(Said.create(m.payload), { groups: "room" });
    // `SENDER_AWAIT=0`: the handler does not wait for the layer's answer (as the raw and
    // Socket.IO senders do not), so one sender's broadcasts are pipelined (bench/results.md Run 9).
    if (SENDER_AWAIT) await sent;
    else sent.catch((error) => console.error("broadcast failed", error));
  }
}

class IdleConsumer extends Consumer {
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Pong.create();
  }
}

/**
 * Mode `cross` (bench/scenarios/cross.ts, two processes of one runtime): the default layer is the
 * Redis pub/sub layer at `REDIS_URL`, as bench/servers/switchboard.ts does on Deno.
 */
export async function crossLayer(mode: string | undefined): Promise<void> {
  if (mode !== "cross") return;
  // Loaded in this mode only: a module loaded at startup grows the engine's young generation,
  // which the idle row would count (bench/scenarios/idle.ts).
  const { RedisPubSubChannelLayer } = await import("../../adapters/redis/mod.ts");
  const url = process.env.REDIS_URL;
  if (!url) throw new Error("cross needs REDIS_URL");
  layers.register("default", new RedisPubSubChannelLayer({ url, prefix: "sbbench" }));
}

/** A new app with the routes. */
export function runtimeApp(): App {
  const app: App = new App({ allowedOrigins: "*" })
    .ws("/ws/echo", EchoConsumer)
    .ws("/ws/room", RoomConsumer)
    .ws("/ws/sender", SenderConsumer)
    .ws("/ws/idle", IdleConsumer)
    .get("/mem", () => {
      (globalThis as { gc?: () => void }).gc?.();
      (globalThis as { Bun?: { gc(sync: boolean): void } }).Bun?.gc(true);
      const m = process.memoryUsage();
      return Response.json({
        rss: m.rss,
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        external: m.external,
        connections: app.connectionCount,
      });
    });
  return app;
}

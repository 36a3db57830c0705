import {
  App,
  Consumer,
  message,
  type MessageOf,
  Ping,
  Pong,
  wsHandler,
} from "@switchboard/switchboard";
import { z } from "zod";

const Say = message("say", z.object({ text: z.string().min(1) }));
const Said = message("said", z.object({ text: z.string(), room: z.string() }));

class RoomConsumer extends Consumer {
  override async postAuthentication() {
    await this.joinGroup(`room.${this.params.room}`);
  }

  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Pong.create(); // a return value goes back to the sender
  }

  @wsHandler(Say, { output: Said })
  async handleSay(m: MessageOf<typeof Say>) {
    // everyone in the room, on every server process that shares the layer
    await this.broadcastMessage(Said.create({ text: m.payload.text, room: this.params.room }));
  }
}

export const app = new App().ws("/ws/room/:room", RoomConsumer);
if (import.meta.main) Deno.serve({ port: 8000 }, app.fetch);

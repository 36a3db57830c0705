/**
 * The external sender (tutorial part 4): code outside any socket — a script, a cron job, a web
 * backend — pushing typed events to connected clients through the channel layers. Each function
 * broadcasts events to a showcase consumer's groups; the consumers' event handlers turn them into
 * frames for their clients.
 *
 * `deno task send` runs all five (or name some: `deno task send chat analytics`). It only reaches
 * a server that shares its layers, so run both with the same REDIS_URL (or NATS_URL) and
 * SWITCHBOARD_PREFIX;
 * with in-memory layers, use the app's `POST /api/announce` instead.
 *
 * SENDER_DELAY_SCALE multiplies the pauses between sends (default 1; tests use 0).
 */
import { layers } from "../../mod.ts";
import { layerBackend, setupLayers } from "./layers.ts";
import {
  AnalyticsConsumer,
  ChatConsumer,
  NotificationConsumer,
  ReliableChatConsumer,
} from "./showcase/consumer.ts";
import { SystemNotify, SystemPeriodicNotify } from "./showcase/messages.ts";

/** Options of every sending function. */
export interface SenderOptions {
  /**
   * Multiplies the pauses between sends (default: SENDER_DELAY_SCALE, else 1). 0 sends without
   * pausing.
   */
  delayScale?: number;
  /** Where the ✅ lines go (default `console.log`). */
  log?: (line: string) => void;
}

/** The analytics events {@linkcode sendAnalyticsEvent} sends, in order. */
export const ANALYTICS_EVENTS: readonly string[] = [
  "user_login:john_doe",
  "page_view:/dashboard",
  "button_click:export_data",
  "session_duration:1234",
  "error:api_timeout",
];

function envScale(): number {
  try {
    const raw = Deno.env.get("SENDER_DELAY_SCALE");
    const scale = raw === undefined || raw === "" ? 1 : Number(raw);
    return Number.isFinite(scale) && scale >= 0 ? scale : 1;
  } catch {
    return 1;
  }
}

function pause(ms: number, options: SenderOptions): Promise<void> {
  const scaled = ms * (options.delayScale ?? envScale());
  return scaled > 0 ? new Promise((r) => setTimeout(r, scaled)) : Promise.resolve();
}

function log(options: SenderOptions, line: string): void {
  (options.log ?? console.log)(line);
}

/** A system announcement to every chat client. */
export async function sendChatMessage(options: SenderOptions = {}): Promise<void> {
  await ChatConsumer.broadcastEvent(
    SystemNotify.create("🔔 System announcement: Welcome to the chat!"),
  );
  log(options, "✅ Sent chat message");
}

/** A maintenance notice to every reliable chat client. */
export async function sendReliableMessage(options: SenderOptions = {}): Promise<void> {
  await ReliableChatConsumer.broadcastEvent(
    SystemNotify.create("🔒 Important: System maintenance scheduled for tonight"),
  );
  log(options, "✅ Sent reliable message");
}

/** An alert to every notifications client. */
export async function sendNotification(options: SenderOptions = {}): Promise<void> {
  await NotificationConsumer.broadcastEvent(
    SystemNotify.create("🚨 Alert: High CPU usage detected on server"),
  );
  log(options, "✅ Sent notification");
}

/** Five analytics events to every analytics client, 0.1 s apart. */
export async function sendAnalyticsEvent(options: SenderOptions = {}): Promise<void> {
  for (const [i, event] of ANALYTICS_EVENTS.entries()) {
    if (i > 0) await pause(100, options);
    await AnalyticsConsumer.broadcastEvent(SystemNotify.create(event));
    log(options, `✅ Sent analytics event: ${event}`);
  }
}

/**
 * Three announcements 1 s apart: the 1st and 3rd to chat clients, the 2nd (a periodic status
 * update) to notifications clients.
 */
export async function periodicAnnouncements(options: SenderOptions = {}): Promise<void> {
  for (let i = 0; i < 3; i++) {
    if (i > 0) await pause(1000, options);
    if (i === 1) {
      await NotificationConsumer.broadcastEvent(
        SystemPeriodicNotify.create(`🔔 System status update #${i + 1}`),
      );
      log(options, `✅ Sent periodic notification #${i + 1}`);
    } else {
      await ChatConsumer.broadcastEvent(
        SystemNotify.create(`⏰ Hourly chat announcement #${i + 1}`),
      );
      log(options, `✅ Sent periodic chat announcement #${i + 1}`);
    }
  }
}

/** The sending functions by the names `deno task send` accepts. */
export const SENDERS: Readonly<Record<string, (options?: SenderOptions) => Promise<void>>> = {
  chat: sendChatMessage,
  reliable: sendReliableMessage,
  notification: sendNotification,
  analytics: sendAnalyticsEvent,
  periodic: periodicAnnouncements,
};

const BANNERS: Readonly<Record<string, string>> = {
  chat: "💬 Chat message",
  reliable: "🔒 Reliable chat message",
  notification: "🚨 Notification",
  analytics: "📊 Analytics events",
  periodic: "⏰ Periodic announcements",
};

/**
 * Runs the named senders (default: all five, in order), 0.5 s apart, each under a banner. A
 * failing sender is reported and the others still run. Resolves with the names that failed.
 */
export async function main(
  names: readonly string[] = Object.keys(SENDERS),
  options: SenderOptions = {},
): Promise<string[]> {
  const unknown = names.filter((n) => !Object.hasOwn(SENDERS, n)); // not `in`: "constructor"
  if (unknown.length) {
    throw new TypeError(
      `Unknown sender(s) ${unknown.join(", ")}; choose from ${Object.keys(SENDERS).join(", ")}`,
    );
  }
  const failed: string[] = [];
  for (const [i, name] of names.entries()) {
    if (i > 0) await pause(500, options);
    log(options, `\n=== ${BANNERS[name]} ===`);
    try {
      await SENDERS[name](options);
    } catch (error) {
      failed.push(name);
      log(options, `❌ ${name} failed: ${(error as Error)?.message ?? String(error)}`);
    }
  }
  return failed;
}

if (import.meta.main) {
  setupLayers();
  if (layerBackend() === "memory") {
    console.warn(
      "⚠️  Neither REDIS_URL nor NATS_URL is set: this process's in-memory layers reach no " +
        "server. Set REDIS_URL or NATS_URL (and SWITCHBOARD_PREFIX) as for the server, or POST " +
        "to the app's /api/announce.",
    );
  }
  let code = 0;
  try {
    const failed = await main(Deno.args.length ? Deno.args : undefined);
    code = failed.length ? 1 : 0;
  } catch (error) {
    console.error((error as Error)?.message ?? String(error));
    code = 2;
  } finally {
    await layers.closeAll();
  }
  Deno.exit(code);
}

/**
 * HTTP endpoints that push to sockets (tutorial part 4): a web backend — or `curl` — broadcasts
 * the same events as the external sender, through the same channel layers.
 *
 * - `POST /api/announce` `{"message": "…", "target"?: "all" | "chat" | "reliable" |
 *   "notifications" | "analytics", "periodic"?: boolean}` broadcasts `system_notify` (or, with
 *   `periodic`, `system_periodic_notify`, which only notifications clients handle) to the target
 *   consumers' groups. Answers 202 `{"event": "system_notify", "targets": ["chat", …]}`.
 * - `POST /api/send/:name` runs one of the external sender's functions (`chat`, `reliable`,
 *   `notification`, `analytics`, `periodic`) and answers 202 `{"sent": name}` when it is done.
 *
 * Errors: 400 `{"error": "…"}` for a body that is not valid JSON or not a valid request, 401 when
 * a token is configured and the `Authorization: Bearer <token>` header does not match, 404 for
 * an unknown sender name.
 */
import { z } from "zod";
import type { App, ConsumerClass } from "../../mod.ts";
import { SENDERS } from "./external_sender.ts";
import {
  AnalyticsConsumer,
  ChatConsumer,
  NotificationConsumer,
  ReliableChatConsumer,
} from "./showcase/consumer.ts";
import { SystemNotify, SystemPeriodicNotify } from "./showcase/messages.ts";

/** The consumers `POST /api/announce` can target, by name. */
export const ANNOUNCE_TARGETS: Readonly<Record<string, ConsumerClass>> = {
  chat: ChatConsumer,
  reliable: ReliableChatConsumer,
  notifications: NotificationConsumer,
  analytics: AnalyticsConsumer,
};

/** The body of `POST /api/announce`. */
export const AnnounceRequest = z.object({
  message: z.string().min(1).max(1000),
  target: z.enum(["all", "chat", "reliable", "notifications", "analytics"]).default("all"),
  periodic: z.boolean().default(false),
}).strict().refine(
  (r) => !r.periodic || r.target === "notifications" || r.target === "all",
  { message: "periodic announcements go to notifications clients only", path: ["target"] },
);

/** Options of {@linkcode mountShowcaseApi}. */
export interface ShowcaseApiOptions {
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  token?: string;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function unauthorized(request: Request, token: string | undefined): Response | undefined {
  if (token === undefined) return undefined;
  const header = request.headers.get("authorization") ?? "";
  const given = header.startsWith("Bearer ") ? header.slice(7) : "";
  if (given && timingSafeEqual(given, token)) return undefined;
  return new Response(JSON.stringify({ error: "Missing or wrong bearer token" }), {
    status: 401,
    headers: { "content-type": "application/json; charset=utf-8", "www-authenticate": "Bearer" },
  });
}

async function readJson(request: Request): Promise<{ ok: true; value: unknown } | { ok: false }> {
  try {
    return { ok: true, value: await request.json() };
  } catch {
    return { ok: false };
  }
}

/** Mounts the showcase's HTTP endpoints on `app` and returns it. */
export function mountShowcaseApi(app: App, options: ShowcaseApiOptions = {}): App {
  return app
    .post("/api/announce", async (request) => {
      const denied = unauthorized(request, options.token);
      if (denied) return denied;
      const body = await readJson(request);
      if (!body.ok) return json(400, { error: "The body must be JSON" });
      const parsed = AnnounceRequest.safeParse(body.value);
      if (!parsed.success) {
        return json(400, {
          error: "Invalid announcement",
          issues: parsed.error.issues.map((i) => ({
            path: i.path.map(String),
            message: i.message,
          })),
        });
      }
      const { message, target, periodic } = parsed.data;
      if (periodic) {
        await NotificationConsumer.broadcastEvent(SystemPeriodicNotify.create(message));
        return json(202, { event: SystemPeriodicNotify.action, targets: ["notifications"] });
      }
      const targets = target === "all" ? Object.keys(ANNOUNCE_TARGETS) : [target];
      const event = SystemNotify.create(message);
      await Promise.all(targets.map((t) => ANNOUNCE_TARGETS[t].broadcastEvent(event)));
      return json(202, { event: SystemNotify.action, targets });
    })
    .post("/api/send/:name", async (request, { params }) => {
      const denied = unauthorized(request, options.token);
      if (denied) return denied;
      const send = Object.hasOwn(SENDERS, params.name) ? SENDERS[params.name] : undefined;
      if (!send) {
        return json(404, {
          error: `Unknown sender '${params.name}'; choose from ${Object.keys(SENDERS).join(", ")}`,
        });
      }
      await send({ log: () => {} });
      return json(202, { sent: params.name });
    });
}

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
 * Every request needs `Authorization: Bearer <token>` (the app's `API_TOKEN`, or the one it
 * generates and prints at startup): a browser form or a cross-site `text/plain` POST cannot set
 * that header, so no other site can make the app broadcast (CSRF).
 *
 * Errors: 401 when the bearer token is missing or wrong; 415 for a body that is not
 * `application/json`; 413 for a body over {@linkcode API_MAX_BODY_BYTES}; 400 `{"error": "…"}` for
 * a body that is not valid JSON or not a valid request; 404 for an unknown sender name.
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

/** Largest body the API reads (an announcement is at most 1,000 characters): 16 KiB. */
export const API_MAX_BODY_BYTES = 16 * 1024;

/** Options of {@linkcode mountShowcaseApi}. */
export interface ShowcaseApiOptions {
  /** Requests must carry `Authorization: Bearer <token>`. Required: an open API is a CSRF hole. */
  token: string;
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

function unauthorized(request: Request, token: string): Response | undefined {
  const header = request.headers.get("authorization") ?? "";
  const given = header.startsWith("Bearer ") ? header.slice(7) : "";
  if (given && timingSafeEqual(given, token)) return undefined;
  return new Response(JSON.stringify({ error: "Missing or wrong bearer token" }), {
    status: 401,
    headers: { "content-type": "application/json; charset=utf-8", "www-authenticate": "Bearer" },
  });
}

/** 415 unless the body (when `required`, or when there is one) is declared `application/json`. */
function notJson(request: Request, required: boolean): Response | undefined {
  const type = request.headers.get("content-type");
  if (type === null && !required && request.body === null) return undefined;
  const essence = (type ?? "").split(";")[0].trim().toLowerCase();
  if (essence === "application/json") return undefined;
  return json(415, {
    error: `The body must be application/json; got ${
      type === null ? "no Content-Type" : JSON.stringify(type.slice(0, 100))
    }`,
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
export function mountShowcaseApi(app: App, options: ShowcaseApiOptions): App {
  if (typeof options?.token !== "string" || options.token.length < 8) {
    throw new TypeError("mountShowcaseApi: a token of at least 8 characters is required");
  }
  const limits = { maxBodyBytes: API_MAX_BODY_BYTES };
  return app
    .post("/api/announce", async (request) => {
      const denied = unauthorized(request, options.token) ?? notJson(request, true);
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
    }, limits)
    .post("/api/send/:name", async (request, { params }) => {
      const denied = unauthorized(request, options.token) ?? notJson(request, false);
      if (denied) return denied;
      const send = Object.hasOwn(SENDERS, params.name) ? SENDERS[params.name] : undefined;
      if (!send) {
        return json(404, {
          error: `Unknown sender '${params.name}'; choose from ${Object.keys(SENDERS).join(", ")}`,
        });
      }
      await send({ log: () => {} });
      return json(202, { sent: params.name });
    }, limits);
}

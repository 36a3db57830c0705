/**
 * The tutorial's web page: `/` and its assets under `/static/`, including the browser client
 * (`/static/client.js` is `client/client.js` itself: plain JavaScript, no build step), the icon,
 * and `POST /page/check`, which tells the page which WebSocket routes exist and whether the
 * server accepts its origin (a POST, so that the browser sends its `Origin` header).
 */
import type { App } from "../../../mod.ts";

// A Map, not an object literal: `/static/constructor` must not find Object.prototype's.
const FILES = new Map<string, { url: URL; type: string }>([
  ["index.html", {
    url: new URL("./index.html", import.meta.url),
    type: "text/html; charset=utf-8",
  }],
  ["app.js", { url: new URL("./app.js", import.meta.url), type: "text/javascript; charset=utf-8" }],
  ["style.css", { url: new URL("./style.css", import.meta.url), type: "text/css; charset=utf-8" }],
  ["favicon.svg", { url: new URL("./favicon.svg", import.meta.url), type: "image/svg+xml" }],
  ["client.js", {
    url: new URL("../../../client/client.js", import.meta.url),
    type: "text/javascript; charset=utf-8",
  }],
]);

async function serveFile(name: string): Promise<Response> {
  const file = FILES.get(name);
  if (!file) return new Response("Not found", { status: 404 });
  const body = await Deno.readFile(file.url);
  return new Response(body, {
    headers: { "content-type": file.type, "cache-control": "no-cache" },
  });
}

/** The answer of `POST /page/check`. */
export interface PageCheck {
  /** Paths of the mounted WebSocket routes. */
  endpoints: string[];
  /** The page's Origin as the server saw it, and the origin check's verdict. */
  origin: { value: string | null; allowed: boolean; reason?: string };
}

/** Mounts `GET /`, `GET /static/:file`, `GET /favicon.ico` and `POST /page/check` on `app`. */
export function mountStatic(app: App): App {
  return app
    .get("/", () => serveFile("index.html"))
    .get("/favicon.ico", () => serveFile("favicon.svg"))
    .get("/static/:file", (_request, { params }) => serveFile(params.file))
    .post("/page/check", async (request, { app }) => {
      await request.body?.cancel();
      const reason = app.checkOrigin(request);
      const origin = request.headers.get("origin");
      if (reason !== undefined) {
        console.warn(
          `The page at ${origin} cannot open WebSockets here: ${reason}. ` +
            `Open it as the server prints it, or restart with ALLOWED_ORIGINS=${origin}`,
        );
      }
      const body: PageCheck = {
        endpoints: app.routes.map((r) => r.path),
        origin: reason === undefined
          ? { value: origin, allowed: true }
          : { value: origin, allowed: false, reason },
      };
      return new Response(JSON.stringify(body), {
        headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
      });
    }, { maxBodyBytes: 0 });
}

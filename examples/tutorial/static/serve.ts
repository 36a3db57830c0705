/**
 * The tutorial's web page: `/` and its assets under `/static/`, including the browser client
 * (`/static/client.js` is `client/client.js` itself: plain JavaScript, no build step).
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

/** Mounts `GET /` (the page) and `GET /static/:file` on `app`. */
export function mountStatic(app: App): App {
  return app
    .get("/", () => serveFile("index.html"))
    .get("/static/:file", (_request, { params }) => serveFile(params.file));
}

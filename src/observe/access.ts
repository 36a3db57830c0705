/**
 * The token check of the observability routes (`/metrics`, the inspector): a request without the
 * token gets 401, one with a wrong token 403. Compared in time independent of where the strings
 * differ.
 *
 * @module
 */
import { text } from "../app/responses.ts";

/** Where a request may carry the token. */
export type TokenPlace = "header" | "header-or-query";

/**
 * The refusal of `request` when it lacks `token` (401) or carries another one (403), or
 * `undefined` when it may pass (also when `token` is undefined: the route is open). The token is
 * read from `Authorization: Bearer <token>`, and from the `token` query parameter when `place` is
 * `"header-or-query"` (a browser page and its WebSocket cannot set the header).
 */
export function refuseWithoutToken(
  request: Request,
  token: string | undefined,
  place: TokenPlace = "header",
): Response | undefined {
  if (token === undefined) return undefined;
  const header = request.headers.get("authorization");
  let given = header?.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
  if (given === undefined && place === "header-or-query") {
    given = new URL(request.url).searchParams.get("token") ?? undefined;
  }
  if (given === undefined || given === "") {
    return text(401, "A token is required (Authorization: Bearer <token>)", {
      "www-authenticate": 'Bearer realm="switchboard"',
    });
  }
  return sameText(given, token) ? undefined : text(403, "Wrong token");
}

/** String equality whose time does not depend on where the strings differ. */
export function sameText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) {
    diff |= a.charCodeAt(i % (a.length || 1)) ^ b.charCodeAt(i);
  }
  return diff === 0;
}

/** Throws a `TypeError` unless `token` is undefined or a non-empty string. */
export function assertToken(token: unknown, what: string): void {
  if (token === undefined) return;
  if (typeof token !== "string" || token.length < 1) {
    throw new TypeError(`${what}: token must be a non-empty string`);
  }
}

/**
 * The WebSocket origin check (cross-site WebSocket hijacking and DNS rebinding protection).
 *
 * @module
 */
import { DefinitionError } from "../errors.ts";

/** Which browser origins may open WebSockets; see `AppOptions.allowedOrigins`. */
export type OriginRule =
  | "same-origin"
  | "*"
  | readonly string[]
  | ((origin: string, request: Request) => boolean);

/** A compiled {@linkcode OriginRule}: answers why an origin is refused, or `undefined`. */
export type OriginCheck = (origin: string, request: Request) => string | undefined;

/** Longest Origin value quoted in a refusal (it is client input). */
const QUOTE_MAX = 200;

function quote(origin: string): string {
  return origin.length > QUOTE_MAX ? `${origin.slice(0, QUOTE_MAX)}…` : origin;
}

/** `scheme://host[:port]` in canonical form (lower case, default port dropped), or `undefined`. */
export function canonicalOrigin(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/**
 * True for hosts a DNS rebinding attack cannot use: IP literals and `localhost` (browsers never
 * ask DNS for `localhost` or `*.localhost`). A page served under any other name may be an
 * attacker's domain that resolves to this server.
 */
function rebindingSafe(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (h.startsWith("[")) return true; // IPv6 literal
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(h);
}

function sameOrigin(origin: string, request: Request): string | undefined {
  const own = new URL(request.url);
  if (origin !== own.origin) {
    return `Origin ${quote(origin)} is not this server's origin ${own.origin} (same-origin rule; ` +
      `scheme, host and port must all match — behind a proxy, list the public origins in allowedOrigins)`;
  }
  if (!rebindingSafe(own.hostname)) {
    return `Origin ${quote(origin)} names the host '${own.hostname}', which the same-origin rule ` +
      `cannot tell from a DNS rebinding attack: list the public origins in allowedOrigins ` +
      `(e.g. ["${own.origin}"])`;
  }
  return undefined;
}

/**
 * Compiles `rule` once (an App's constructor does): list entries are checked and put in canonical
 * form; `"same-origin"` may appear in a list to combine it with extra origins.
 */
export function compileOriginRule(rule: OriginRule): OriginCheck {
  if (rule === "*") return () => undefined;
  if (typeof rule === "function") {
    return (origin, request) =>
      rule(origin, request) ? undefined : `Origin ${quote(origin)} refused by allowedOrigins`;
  }
  const entries = rule === "same-origin" ? ["same-origin"] : [...rule];
  const listed = new Set<string>();
  let withSameOrigin = false;
  for (const entry of entries) {
    if (entry === "same-origin") {
      withSameOrigin = true;
      continue;
    }
    const canonical = canonicalOrigin(entry);
    if (canonical === undefined || new URL(entry).pathname.length > 1) {
      throw new DefinitionError(
        `allowedOrigins: '${entry}' is not an origin (scheme://host[:port], e.g. "https://app.example.com")`,
      );
    }
    listed.add(canonical);
  }
  return (origin, request) => {
    const canonical = canonicalOrigin(origin);
    if (canonical === undefined) return `Origin ${quote(origin)} is not an http(s) origin`;
    if (listed.has(canonical)) return undefined;
    if (withSameOrigin) {
      const refusal = sameOrigin(canonical, request);
      return refusal === undefined || listed.size === 0
        ? refusal
        : `${refusal}; listed: ${[...listed].join(", ")}`;
    }
    return `Origin ${quote(origin)} is not in allowedOrigins (${
      [...listed].join(", ") || "empty"
    })`;
  };
}

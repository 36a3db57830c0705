/**
 * Path patterns with `:params` (`/ws/room/:roomName`), matched without URLPattern so that the
 * same code runs on Node 20. The syntax and the matcher are the shared ones of `pattern.ts`.
 *
 * @module
 */
import { compileRoutePattern, matchPattern } from "./pattern.ts";

/**
 * The parameter names of a route pattern, from its `:name` segments:
 * `PathParams<"/ws/room/:room/:user">` is `"room" | "user"`. A path typed only as `string` gives
 * `string` (nothing to check).
 */
export type PathParams<P extends string> = string extends P ? string
  : P extends `${infer Head}/${infer Tail}`
    ? (Head extends `:${infer Name}` ? Name : never) | PathParams<Tail>
  : P extends `:${infer Name}` ? Name
  : never;

/** The `params` object of a route: `{room: string}` for `/ws/room/:room`. */
export type RouteParams<P extends string> = Readonly<Record<PathParams<P>, string>>;

/** A compiled path pattern. */
export interface PathPattern {
  /** The pattern as written. */
  readonly path: string;
  /** Parameter names in order. */
  readonly params: readonly string[];
  /** The params of `pathname`, or `undefined` when it does not match. */
  match(pathname: string): Record<string, string> | undefined;
}

/** Compiles `/a/:b/c` into a {@linkcode PathPattern} (parameters are URI-decoded). */
export function compilePath(path: string): PathPattern {
  const pattern = compileRoutePattern(path);
  return {
    path,
    params: pattern.names,
    match(pathname) {
      // The pattern starts after the path's leading '/' (a URL pathname always has one).
      const slash = pathname.indexOf("/");
      if (slash === -1) return undefined;
      return matchPattern(pattern, pathname, decodeURIComponent, slash + 1);
    },
  };
}

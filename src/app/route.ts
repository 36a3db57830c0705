/**
 * Path patterns with `:params` (`/ws/room/:roomName`), matched without URLPattern so that the
 * same code runs on Node 20.
 *
 * @module
 */

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

/** Compiles `/a/:b/c` into a {@linkcode PathPattern}. */
export function compilePath(path: string): PathPattern {
  if (!path.startsWith("/")) throw new TypeError(`Route paths start with '/': got '${path}'`);
  const segments = path.split("/").slice(1);
  const params: string[] = [];
  for (const s of segments) {
    if (s.startsWith(":")) {
      const name = s.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new TypeError(`Bad parameter ':${name}' in route '${path}'`);
      }
      params.push(name);
    }
  }
  return {
    path,
    params,
    match(pathname) {
      const parts = pathname.split("/").slice(1);
      if (parts.length !== segments.length) return undefined;
      const out: Record<string, string> = {};
      for (let i = 0; i < segments.length; i++) {
        const seg = segments[i];
        if (seg.startsWith(":")) {
          if (!parts[i]) return undefined;
          try {
            // defineProperty: a parameter named `__proto__` stays a plain own key.
            Object.defineProperty(out, seg.slice(1), {
              value: decodeURIComponent(parts[i]),
              enumerable: true,
              writable: true,
              configurable: true,
            });
          } catch {
            return undefined;
          }
        } else if (seg !== parts[i]) return undefined;
      }
      return out;
    },
  };
}

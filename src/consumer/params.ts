/**
 * Path and query parameter helpers for consumers and topics: read a parameter that must be
 * there, with an error that says which one is missing (Chanx's `path_param` / `query_params`).
 *
 * @module
 */
import { SwitchboardError } from "../errors.ts";

/** Anything with route parameters: a consumer (`/ws/room/:roomName`) or a topic instance. */
export interface ParamSource {
  /** The parameters by name. */
  readonly params: Readonly<Record<string, string>>;
}

/** Anything with query parameters: a consumer, or the `URLSearchParams` themselves. */
export type QuerySource = { readonly query: URLSearchParams } | URLSearchParams;

/** A required path or query parameter is missing (or empty). */
export class MissingParamError extends SwitchboardError {
  /** The parameter's name. */
  readonly param: string;
  /** Where it was looked for. */
  readonly location: "path" | "query";

  /** Creates the error for `param`. */
  constructor(location: "path" | "query", param: string, detail = "") {
    super(
      location === "path"
        ? `No path parameter '${param}' on this route${detail}`
        : `Missing query parameter '${param}'`,
    );
    this.param = param;
    this.location = location;
  }

  /**
   * A 400 response naming the parameter, for `authenticate()`:
   * `catch (e) { if (e instanceof MissingParamError) return e.response(); throw e; }`.
   */
  response(): Response {
    return new Response(this.message, {
      status: 400,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
}

/**
 * The path parameter `name`. Throws {@linkcode MissingParamError} when the route has none by
 * that name (a mounting mistake: `/ws/room/:room` read as `roomName`).
 */
export function requireParam(source: ParamSource, name: string): string {
  const value = Object.hasOwn(source.params, name) ? source.params[name] : undefined;
  if (value === undefined) {
    throw new MissingParamError(
      "path",
      name,
      ` (got ${JSON.stringify(Object.keys(source.params))})`,
    );
  }
  return value;
}

/**
 * Property names that generic code probes on any object (`await`, `JSON.stringify`, test
 * matchers, inspectors): reading them from a params object answers `undefined` instead of throwing.
 */
const PROBES: ReadonlySet<string> = new Set([
  "then",
  "toJSON",
  "inspect",
  "asymmetricMatch",
  "$$typeof",
  "nodeType",
]);

const paramsHandler: ProxyHandler<Readonly<Record<string, string>>> = {
  get(target, key, receiver) {
    if (typeof key === "symbol" || key in target || PROBES.has(key)) {
      return Reflect.get(target, key, receiver);
    }
    throw new MissingParamError("path", key, ` (got ${JSON.stringify(Object.keys(target))})`);
  },
};

/** The params of every route without parameters: one frozen object, not one per connection. */
const NO_PARAMS: Readonly<Record<string, string>> = new Proxy(Object.freeze({}), paramsHandler);

/**
 * The frozen `params` object of a matched route. Reading a name the route does not have throws
 * {@linkcode MissingParamError} instead of answering `undefined` (a consumer mounted on
 * `/ws/room/:room` that reads `params.roomName`). `in`, `Object.hasOwn`, `Object.keys`, spreading
 * and `JSON.stringify` work as on a plain object.
 */
export function routeParams<K extends string>(
  values: Readonly<Record<K, string>>,
): Readonly<Record<K, string>> {
  if (Object.keys(values).length === 0) return NO_PARAMS as Readonly<Record<K, string>>;
  const target = Object.freeze({ ...values });
  return new Proxy(target, paramsHandler) as Readonly<Record<K, string>>;
}

function searchParams(source: QuerySource): URLSearchParams {
  return source instanceof URLSearchParams ? source : source.query;
}

/**
 * The first value of the query parameter `name`. Throws {@linkcode MissingParamError} when it is
 * absent or empty (`?token=`).
 */
export function requireQuery(source: QuerySource, name: string): string {
  const value = searchParams(source).get(name);
  if (value === null || value === "") throw new MissingParamError("query", name);
  return value;
}

/** Every query parameter with all its values, in order: `?a=1&a=2&b=` → `{a: ["1","2"], b: [""]}`. */
export function queryParams(source: QuerySource): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, value] of searchParams(source)) {
    if (!Object.hasOwn(out, key)) {
      Object.defineProperty(out, key, {
        value: [],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    out[key].push(value);
  }
  return out;
}

/**
 * camelCase ⇄ snake_case key conversion for the camelCase wire mode: keys change recursively,
 * values never do.
 *
 * @module
 */

/** `room_name` → `roomName`. */
export function camelize(key: string): string {
  return key.replace(/_+([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** `roomName` → `room_name`. */
export function decamelize(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}

/** Rewrites every object key of a JSON value with `convert` (arrays and nested objects included). */
export function convertKeys(value: unknown, convert: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => convertKeys(v, convert));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // defineProperty, not assignment: a "__proto__" key must stay a plain own key.
      Object.defineProperty(out, convert(k), {
        value: convertKeys(v, convert),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

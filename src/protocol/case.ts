/**
 * camelCase ⇄ snake_case key conversion for the camelCase wire mode: keys change recursively,
 * values never do.
 *
 * @module
 */

function isAsciiAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/**
 * `room_name` → `roomName`: each run of `_` followed by an ASCII letter or digit becomes that
 * character upper-cased; other underscores stay. Linear in the key's length.
 */
export function camelize(key: string): string {
  // A scan, not /_+([a-zA-Z0-9])/g: that regex retries from every underscore of a long run that
  // is not followed by a letter (quadratic time on "_".repeat(n) + "-").
  let i = key.indexOf("_");
  if (i === -1) return key;
  const out: string[] = [];
  let copied = 0; // key[copied, i) is still to be copied
  while (i !== -1) {
    let j = i;
    while (j < key.length && key.charCodeAt(j) === 0x5f) j++;
    if (j < key.length && isAsciiAlnum(key.charCodeAt(j))) {
      out.push(key.slice(copied, i), key[j].toUpperCase());
      copied = j + 1;
    }
    i = j < key.length ? key.indexOf("_", j + 1) : -1;
  }
  out.push(key.slice(copied));
  return out.join("");
}

/** `roomName` → `room_name`. Linear in the key's length (two single-pass regexes). */
export function decamelize(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}

/**
 * Rewrites every object key of a JSON value with `convert` (arrays and nested objects included).
 * Iterative (an explicit stack, not recursion), so any nesting depth is converted without
 * overflowing the call stack; linear in the size of the value.
 */
export function convertKeys(value: unknown, convert: (key: string) => string): unknown {
  const copy = (v: unknown): unknown => {
    if (Array.isArray(v)) {
      const out = new Array(v.length);
      stack.push({ from: v, to: out, array: true });
      return out;
    }
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      stack.push({ from: v as Record<string, unknown>, to: out, array: false });
      return out;
    }
    return v;
  };
  const stack: Array<
    {
      from: Record<string, unknown> | unknown[];
      to: Record<string, unknown> | unknown[];
      array: boolean;
    }
  > = [];
  const root = copy(value);
  for (let job = stack.pop(); job; job = stack.pop()) {
    if (job.array) {
      const from = job.from as unknown[];
      const to = job.to as unknown[];
      for (let i = 0; i < from.length; i++) to[i] = copy(from[i]);
      continue;
    }
    for (const [k, v] of Object.entries(job.from)) {
      // defineProperty, not assignment: a "__proto__" key must stay a plain own key.
      Object.defineProperty(job.to, convert(k), {
        value: copy(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return root;
}

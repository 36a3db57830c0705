/**
 * The one pattern compiler: route paths (`/ws/room/:roomName`), topic patterns
 * (`room:{roomName}`) and layer name globs (`jobs.*`).
 *
 * Routes and topics compile to the same {@linkcode Pattern}: the text between separators (`/` in
 * a path, `:` in a topic) is a segment, literal text around parameters; a parameter stands for one
 * or more characters other than the separator (so the input's separators line up with the
 * pattern's). {@linkcode matchPattern} runs on client input (request paths, the `topic` of client
 * frames) and never backtracks: its time is linear in the input's length.
 *
 * Globs (`*` any run, `?` one character, `[…]` a set of characters) compile to an anchored
 * RegExp ({@linkcode globToRegExp}). They only ever test channel names, which every layer checks
 * to be shorter than 100 characters first.
 *
 * @module
 */

// --- compiled form ---

/**
 * One separator-free piece of a pattern: its literal text around its parameters,
 * `lits[0] {…} lits[1] … {…} lits[k]` (k = `lits.length - 1` parameters).
 */
export interface PatternSegment {
  /** The literal text before, between and after the segment's parameters. */
  readonly lits: readonly string[];
  /** The index (among all the pattern's parameters) of the segment's first parameter. */
  readonly first: number;
}

/** A compiled route or topic pattern. */
export interface Pattern {
  /** The character that separates segments (`/` for routes, `:` for topics). */
  readonly separator: string;
  /** The parameter names, in order (a repeated name appears twice; its last value wins). */
  readonly names: readonly string[];
  /** The segments, in order (at least one). */
  readonly segments: readonly PatternSegment[];
}

/** A piece of a pattern as a dialect parses it: literal text, or a named parameter. */
export type PatternPiece = string | { readonly param: string };

/** Builds a {@linkcode Pattern} from literal text and parameters, cut into segments at `separator`. */
export function compilePieces(pieces: readonly PatternPiece[], separator: string): Pattern {
  const names: string[] = [];
  const segments: PatternSegment[] = [];
  let lits = [""];
  const close = () => segments.push({ lits, first: names.length - (lits.length - 1) });
  for (const piece of pieces) {
    if (typeof piece !== "string") {
      names.push(piece.param);
      lits.push("");
      continue;
    }
    const parts = piece.split(separator);
    lits[lits.length - 1] += parts[0];
    for (const part of parts.slice(1)) {
      close();
      lits = [part];
    }
  }
  close();
  return { separator, names, segments };
}

// --- dialects ---

const ROUTE_PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Compiles a route path: `/` then segments separated by `/`, a segment `:name` being a parameter
 * (`name` an identifier). Throws `TypeError` on a path without the leading `/` or a bad name.
 * The returned pattern matches the path after its leading `/`.
 */
export function compileRoutePattern(path: string): Pattern {
  if (!path.startsWith("/")) throw new TypeError(`Route paths start with '/': got '${path}'`);
  const pieces: PatternPiece[] = [];
  path.slice(1).split("/").forEach((segment, i) => {
    if (i > 0) pieces.push("/");
    if (!segment.startsWith(":")) return void pieces.push(segment);
    const name = segment.slice(1);
    if (!ROUTE_PARAM_NAME.test(name)) {
      throw new TypeError(`Bad parameter ':${name}' in route '${path}'`);
    }
    pieces.push({ param: name });
  });
  return compilePieces(pieces, "/");
}

/** The `{name}` placeholder of topic patterns. */
const TOPIC_PARAM = /\{(\w+)\}/g;

/** Compiles a topic pattern: `{name}` placeholders anywhere, segments separated by `:`. */
export function compileTopicPattern(pattern: string): Pattern {
  const pieces: PatternPiece[] = [];
  let last = 0;
  for (const m of pattern.matchAll(TOPIC_PARAM)) {
    pieces.push(pattern.slice(last, m.index), { param: m[1] });
    last = m.index! + m[0].length;
  }
  pieces.push(pattern.slice(last));
  return compilePieces(pieces, ":");
}

/** Turns a glob (`*`, `?`, `[...]`) into an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (const ch of glob) {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else if (ch === "[" || ch === "]") re += ch;
    else re += ch.replace(/[.*+?^${}()|\\/-]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

// --- matching ---

/**
 * Matches one separator-free piece of the input against a segment, writing the parameters into
 * `out`. The same answer as the regex `^lit0([^:]+)lit1…([^:]+)litk$` (earlier parameters as
 * long as possible), found without backtracking: each literal is placed as far right as it can
 * go, from the last one back, so the time is linear in the piece's length.
 */
function matchSegment(piece: string, seg: PatternSegment, out: string[]): boolean {
  const { lits, first } = seg;
  const k = lits.length - 1;
  if (k === 0) return piece === lits[0];
  const head = lits[0];
  const tail = lits[k];
  if (piece.length < head.length + tail.length + k) return false;
  if (!piece.startsWith(head) || !piece.endsWith(tail)) return false;
  let end = piece.length - tail.length; // exclusive end of param k-1
  for (let j = k - 1; j >= 1; j--) {
    const lit = lits[j];
    // lit must end before `end - 1` (param j nonempty) and leave one char per earlier param.
    const at = piece.lastIndexOf(lit, end - 1 - lit.length);
    if (at < head.length + j || at + lit.length >= end) return false;
    out[first + j] = piece.slice(at + lit.length, end);
    end = at;
  }
  if (end <= head.length) return false;
  out[first] = piece.slice(head.length, end);
  return true;
}

/**
 * The parameters of `input` (from index `from`) if it matches `pattern`, else `undefined`; linear
 * in the input's length. `decode` maps each raw value (a throw means no match). The result's keys
 * are own properties, even `__proto__`.
 */
export function matchPattern(
  pattern: Pattern,
  input: string,
  decode?: (raw: string) => string,
  from = 0,
): Record<string, string> | undefined {
  const { separator, segments, names } = pattern;
  // Run for every route an upgrade tries: literal segments are compared in place, no piece is cut
  // from the input but a parameter's.
  const values: string[] = [];
  const last = segments.length - 1;
  let start = from;
  for (let i = 0; i <= last; i++) {
    const end = input.indexOf(separator, start);
    if (i === last ? end !== -1 : end === -1) return undefined; // separators: exactly `last`
    const stop = i === last ? input.length : end;
    const { lits } = segments[i];
    if (lits.length === 1) {
      if (stop - start !== lits[0].length || !input.startsWith(lits[0], start)) return undefined;
    } else if (!matchSegment(input.slice(start, stop), segments[i], values)) return undefined;
    start = stop + separator.length;
  }
  const out: Record<string, string> = {};
  try {
    for (let i = 0; i < names.length; i++) {
      // defineProperty: a parameter named `__proto__` stays a plain own key.
      Object.defineProperty(out, names[i], {
        value: decode ? decode(values[i]) : values[i],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  } catch {
    return undefined;
  }
  return out;
}

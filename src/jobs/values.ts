/**
 * Values that cross a job queue: the check that `enqueue` arguments survive JSON unchanged
 * ({@linkcode JobArgsError} naming the path), and a description of any thrown value that never
 * throws itself (for the worker's error handling).
 *
 * @module
 */
import { SwitchboardError } from "../errors.ts";

/**
 * `enqueue` arguments that would not survive JSON unchanged: `undefined`, functions, symbols,
 * `NaN`/`Infinity`, `BigInt`, `Map`, `Set`, `Date`, class instances, sparse arrays, cycles, or a
 * value nested too deep / with too many elements. Nothing was enqueued.
 */
export class JobArgsError extends SwitchboardError {
  /** Where the offending value is, e.g. `args[0].when`. */
  readonly path: string;
  /** What is wrong with it, e.g. `Map is not JSON`. */
  readonly problem: string;
  /** Creates the error. */
  constructor(path: string, problem: string) {
    super(`Job args are not JSON: ${path}: ${problem}`);
    this.path = path;
    this.problem = problem;
  }
}

/** Deepest nesting {@linkcode assertJson} accepts. @internal */
export const MAX_JSON_DEPTH = 64;
/** Most values (array elements, object properties, leaves) {@linkcode assertJson} accepts. @internal */
export const MAX_JSON_VALUES = 1_000_000;

interface Frame {
  value: unknown;
  parent: Frame | undefined;
  key: string | number;
  depth: number;
  /** For objects: the own keys; for arrays: undefined (indexes). */
  keys: string[] | undefined;
  /** The next child to visit. */
  next: number;
  /** How many children there are. */
  size: number;
}

/**
 * Throws {@linkcode JobArgsError} naming the first value under `root` that JSON would change or
 * drop. Only `null`, booleans, finite numbers, strings, arrays without holes and plain objects
 * (prototype `Object.prototype` or `null`, string keys) pass. One iterative depth-first pass:
 * linear in the number of values, memory bounded by the depth, at most
 * {@linkcode MAX_JSON_DEPTH} levels and {@linkcode MAX_JSON_VALUES} values.
 * @internal
 */
export function assertJson(value: unknown, root: string): void {
  const stack: Frame[] = [];
  const onPath = new Set<object>();
  let count = 0;
  const visit = (v: unknown, parent: Frame | undefined, key: string | number, depth: number) => {
    const frame: Frame = { value: v, parent, key, depth, keys: undefined, next: 0, size: 0 };
    if (++count > MAX_JSON_VALUES) {
      throw new JobArgsError(root, `more than ${MAX_JSON_VALUES} values`);
    }
    const problem = jsonProblem(v);
    if (problem) throw new JobArgsError(pathOf(frame), problem);
    if (v === null || typeof v !== "object") return;
    if (onPath.has(v)) throw new JobArgsError(pathOf(frame), "circular reference");
    if (depth >= MAX_JSON_DEPTH) {
      throw new JobArgsError(pathOf(frame), `nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    if (Array.isArray(v)) {
      frame.size = v.length;
    } else {
      if (Object.getOwnPropertySymbols(v).length > 0) {
        throw new JobArgsError(pathOf(frame), "symbol keys are not JSON");
      }
      frame.keys = Object.keys(v);
      frame.size = frame.keys.length;
    }
    if (count + frame.size > MAX_JSON_VALUES) {
      throw new JobArgsError(root, `more than ${MAX_JSON_VALUES} values`);
    }
    onPath.add(v);
    stack.push(frame);
  };
  visit(value, undefined, root, 0);
  while (stack.length) {
    const frame = stack[stack.length - 1];
    if (frame.next >= frame.size) {
      stack.pop();
      onPath.delete(frame.value as object);
      continue;
    }
    const i = frame.next++;
    const container = frame.value as Record<string | number, unknown>;
    if (frame.keys === undefined) {
      if (!(i in container)) {
        throw new JobArgsError(
          pathOf({ ...frame, parent: frame, key: i }),
          "hole",
        );
      }
      visit(container[i], frame, i, frame.depth + 1);
    } else {
      const key = frame.keys[i];
      visit(container[key], frame, key, frame.depth + 1);
    }
  }
}

function jsonProblem(v: unknown): string | undefined {
  switch (typeof v) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(v) ? undefined : `${v} is not JSON`;
    case "undefined":
      return "undefined is not JSON";
    case "bigint":
      return "BigInt is not JSON";
    case "symbol":
      return "a symbol is not JSON";
    case "function":
      return "a function is not JSON";
  }
  if (v === null || Array.isArray(v)) return undefined;
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    return typeof (v as { toJSON?: unknown }).toJSON === "function"
      ? "an object with toJSON is not JSON"
      : undefined;
  }
  if (v instanceof Date) return "Date is not JSON (pass date.toISOString() or a number)";
  const name = typeof proto?.constructor === "function" ? String(proto.constructor.name) : "";
  return `${name ? name.slice(0, 50) : "an instance of a class"} is not JSON`;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function pathOf(frame: Frame): string {
  const parts: string[] = [];
  for (let f: Frame | undefined = frame; f; f = f.parent) {
    const k = f.key;
    if (f.parent === undefined) parts.push(String(k));
    else if (typeof k === "number") parts.push(`[${k}]`);
    else if (k.length <= 50 && IDENTIFIER.test(k)) parts.push(`.${k}`);
    else parts.push(`[${JSON.stringify(k.length > 50 ? `${k.slice(0, 50)}…` : k)}]`);
  }
  return parts.reverse().join("");
}

/**
 * A description of any thrown value that never throws itself (an error's `message` getter or
 * `toString` may throw, `Symbol.toPrimitive` may, a null-prototype object has no `toString`),
 * at most `maxLength` characters. @internal
 */
export function describeError(error: unknown, maxLength = 4096): string {
  let text: string | undefined;
  try {
    if (error instanceof Error) {
      const message = error.message;
      text = typeof message === "string" && message !== "" ? message : undefined;
      if (text === undefined) {
        const name = error.name;
        text = typeof name === "string" && name !== "" ? name : "Error";
      }
    }
  } catch {
    text = undefined;
  }
  if (text === undefined) {
    try {
      text = String(error);
    } catch {
      text = undefined;
    }
  }
  if (text === undefined) {
    let kind = "value";
    try {
      kind = typeof error === "object" && error !== null ? "object" : typeof error;
    } catch {
      // keep "value"
    }
    text = `unprintable thrown ${kind}`;
  }
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}

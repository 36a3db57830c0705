/**
 * The one pattern compiler (src/app/pattern.ts) gives the answers of the code it replaced: route
 * paths are compared with the former `compilePath` (segment by segment, kept below as the
 * reference) on seeded random paths and patterns; topics are compared with the former regex in
 * tests/core/linear_test.ts.
 */
import assert from "node:assert/strict";
import { compilePath } from "../../src/app/route.ts";
import { compilePieces, compileTopicPattern, matchPattern } from "../../src/app/pattern.ts";

/** The former route matcher, verbatim. */
function oldCompilePath(path: string) {
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
    params,
    match(pathname: string) {
      const parts = pathname.split("/").slice(1);
      if (parts.length !== segments.length) return undefined;
      const out: Record<string, string> = {};
      for (let i = 0; i < segments.length; i++) {
        const seg = segments[i];
        if (seg.startsWith(":")) {
          if (!parts[i]) return undefined;
          try {
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

/** The error a function throws, or "no error". */
function outcome(f: () => unknown): string {
  try {
    f();
    return "no error";
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}

Deno.test("route patterns: the same params, errors and misses as the former compilePath", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = (alphabet: string, max: number) => {
    let s = "";
    for (let i = Math.floor(random() * (max + 1)); i > 0; i--) {
      s += alphabet[Math.floor(random() * alphabet.length)];
    }
    return s;
  };
  const names = ["a", "b", "room", "__proto__", "constructor", "a", "1x", ""];
  let compared = 0;
  let hits = 0;
  for (let p = 0; p < 500; p++) {
    const segments = Array.from(
      { length: Math.floor(random() * 4) },
      () => random() < 0.4 ? `:${names[Math.floor(random() * names.length)]}` : pick("ab:.%{}", 3),
    );
    const path = (random() < 0.05 ? "" : "/") + segments.join("/");
    const expectedError = outcome(() => oldCompilePath(path));
    assert.equal(outcome(() => compilePath(path)), expectedError, path);
    if (expectedError !== "no error") continue;
    const [now, before] = [compilePath(path), oldCompilePath(path)];
    assert.deepEqual(now.params, before.params, path);
    for (let q = 0; q < 40; q++) {
      const input = q % 3 === 0 ? pick("ab/:%41%E0x", 12) : (q % 5 ? "/" : pick("ab/", 2)) +
        segments.map((s) => s.startsWith(":") ? pick("ab%41%ZZ:.", 4) : s).join("/");
      const [got, want] = [now.match(input), before.match(input)];
      assert.deepEqual(got, want, `${path} on ${JSON.stringify(input)}`);
      if (want) assert.deepEqual(Object.keys(got!), Object.keys(want), "own keys, in order");
      compared++;
      if (want) hits++;
    }
  }
  assert.ok(compared > 5000, `only ${compared} comparisons`);
  assert.ok(hits > 1000, `only ${hits} matches`);
});

Deno.test("a topic pattern and a route pattern are the same compiled form", () => {
  const topic = compileTopicPattern("room:{name}");
  const route = compilePieces(["room/", { param: "name" }], "/");
  assert.deepEqual(topic.segments, route.segments);
  assert.deepEqual(matchPattern(topic, "room:lobby"), { name: "lobby" });
  assert.deepEqual(matchPattern(route, "room/lobby"), { name: "lobby" });
  assert.equal(matchPattern(topic, "room:"), undefined, "a parameter is never empty");
  assert.equal(matchPattern(topic, "room:a:b"), undefined, "nor spans a separator");
});

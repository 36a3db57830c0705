/**
 * Every function that runs on client input is linear: fed a worst case (the input that made the
 * old regexes backtrack) at doubling sizes up to 1 MiB, each stays within FACTOR times a linear
 * baseline measured on the same input in the same test (a regex pass making one replacement per
 * character: the same kind of work as the functions under test, so a loaded machine slows both),
 * plus a floor for timer noise. The doubling makes a super-linear function fail at a small size,
 * within seconds, instead of stalling for minutes on the 1 MiB input.
 *
 * Worst cases of the old code: `safeGroupName` trimmed dashes with /^-+|-+$/ (quadratic on
 * "a" + "-"×n + "a"), `camelize` used /_+([a-zA-Z0-9])/ (quadratic on "_"×n + "-"), and topic
 * patterns compiled to a regex with one ([^:]+) per parameter (cubic on "x:" + "."×n + ":" for
 * `x:{a}.{b}.{c}`).
 */
import {
  assert,
  assertChannelName,
  assertGroupName,
  camelize,
  convertKeys,
  decamelize,
  queryParams,
  safeGroupName,
  Topic,
} from "./deps.ts";
import { compilePath } from "../../src/app/route.ts";
import { globToLuaPattern } from "../../adapters/redis/scripts.ts";
import { asyncApiServer } from "../../src/asyncapi/generator.ts";
import { jsonTooDeep } from "../../src/protocol/json_depth.ts";

const MIB = 1 << 20;
/** Allowed time: FACTOR × the baseline on the same input, plus FLOOR_MS. */
const FACTOR = 50;
const FLOOR_MS = 100;

function elapsed(f: () => unknown): number {
  const start = performance.now();
  f();
  return performance.now() - start;
}

/** A linear pass over `s` (one regex match and replacement per character): the best of two. */
function baselineMs(s: string): number {
  return Math.min(...[0, 1].map(() => elapsed(() => s.replace(/[^]/g, "$&").length)));
}

/** Doubling sizes up to 1 MiB, each within the bound (two retries absorb GC pauses). */
function assertLinear(make: (n: number) => string, run: (input: string) => unknown): string {
  const report: string[] = [];
  for (let n = 1024; n <= MIB; n *= 2) {
    const input = make(n);
    const base = baselineMs(input);
    const budget = FACTOR * base + FLOOR_MS;
    let took = elapsed(() => run(input));
    for (let retry = 0; retry < 2 && took > budget; retry++) {
      took = Math.min(took, elapsed(() => run(input)));
    }
    assert.ok(
      took <= budget,
      `${input.length} chars took ${took.toFixed(1)} ms; the linear baseline took ` +
        `${base.toFixed(2)} ms (bound ${budget.toFixed(1)} ms)`,
    );
    if (n === MIB) report.push(`1 MiB: ${took.toFixed(1)} ms vs baseline ${base.toFixed(2)} ms`);
  }
  return report.join("");
}

function throws(f: () => unknown): () => void {
  return () => {
    try {
      f();
    } catch {
      return;
    }
    throw new Error("expected a throw");
  };
}

class RoomTopic extends Topic {
  static override pattern = "room:{roomName}";
}
class ThreeParams extends Topic {
  static override pattern = "x:{a}.{b}.{c}";
}
class TwoParams extends Topic {
  static override pattern = "doc:{a}-{b}:end";
}

const dashes = (n: number) => "a" + "-".repeat(n) + "a";

const CASES: Array<[string, (n: number) => string, (s: string) => unknown]> = [
  ["safeGroupName: a run of dashes inside", dashes, (s) => safeGroupName([`room:${s}`])],
  [
    "safeGroupName: leading and trailing dashes",
    (n) => "-".repeat(n) + "a" + "-".repeat(n),
    (s) => safeGroupName([s], "room"),
  ],
  [
    "safeGroupName: unsafe characters",
    (n) => "a" + " !".repeat(n / 2) + "a",
    (s) => safeGroupName([s]),
  ],
  ["Topic.groupName", dashes, (s) => RoomTopic.groupName(`room:${s}`)],
  ["camelize: underscores not followed by a letter", (n) => "_".repeat(n) + "-", camelize],
  ["camelize: many words", (n) => "a_".repeat(n / 2), camelize],
  ["decamelize: many humps", (n) => "aA".repeat(n / 2), decamelize],
  ["decamelize: capitals", (n) => "A".repeat(n) + "a", decamelize],
  [
    "convertKeys (camelCase out)",
    (n) => "_".repeat(n) + "-",
    (s) => convertKeys({ [s]: [{ [s]: 1 }] }, camelize),
  ],
  [
    "convertKeys (camelCase in)",
    (n) => "aA".repeat(n / 2),
    (s) => convertKeys({ [s]: { [s]: 1 } }, decamelize),
  ],
  ["Topic.parse: one parameter", dashes, (s) => RoomTopic.parse(`room:${s}`)],
  [
    "Topic.parse: three parameters, no match",
    (n) => "x:" + ".".repeat(n) + ":",
    (s) => ThreeParams.parse(s),
  ],
  [
    "Topic.parse: three parameters, a match",
    (n) => "x:" + ".".repeat(n),
    (s) => assert.ok(ThreeParams.parse(s)),
  ],
  [
    "Topic.parse: two parameters, no match",
    (n) => "doc:" + "-".repeat(n) + ":en",
    (s) => TwoParams.parse(s),
  ],
  ["Topic.parse: many colons", (n) => ":".repeat(n), (s) => ThreeParams.parse(s)],
  [
    "route match: a long parameter",
    (n) => "/ws/room/" + "a-".repeat(n / 2),
    (s) => compilePath("/ws/room/:roomName").match(s),
  ],
  [
    "route match: many slashes",
    (n) => "/".repeat(n),
    (s) => compilePath("/ws/room/:roomName").match(s),
  ],
  [
    "route match: percent escapes",
    (n) => "/ws/room/" + "%41".repeat(n / 3),
    (s) => compilePath("/ws/room/:roomName").match(s),
  ],
  ["queryParams", (n) => "a=1&".repeat(n / 4), (s) => queryParams(new URLSearchParams(s))],
  ["assertGroupName", (n) => "a".repeat(n), (s) => throws(() => assertGroupName(s))()],
  ["assertChannelName", (n) => "a!".repeat(n / 2), (s) => throws(() => assertChannelName(s))()],
  ["globToLuaPattern", (n) => "*?.".repeat(n / 3), globToLuaPattern],
  // The nesting limit scans every frame before JSON.parse (a limit never reached: a full scan).
  [
    "jsonTooDeep: brackets",
    (n) => "[".repeat(n / 2) + "]".repeat(n / 2),
    (s) => assert.equal(jsonTooDeep(s, Infinity), false),
  ],
  [
    "jsonTooDeep: escapes and brackets in strings",
    (n) => '["' + '\\\\\\"[{'.repeat(n / 6) + '"]',
    (s) => assert.equal(jsonTooDeep(s, 1), false),
  ],
  // The AsyncAPI document's server comes from the request's Host header when none is configured.
  [
    "asyncApiServer: slashes not at the end",
    (n) => "h/" + "/".repeat(n) + "b",
    (s) => asyncApiServer(s),
  ],
];

for (const [name, make, run] of CASES) {
  Deno.test(`linear on client input: ${name}`, () => {
    console.log(assertLinear(make, run));
  });
}

Deno.test("the linear scans give the old regexes' answers", () => {
  const oldCamelize = (key: string) =>
    key.replace(/_+([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());
  const oldClean = (p: string) => p.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "");
  const oldParse = (pattern: string) => {
    const names: string[] = [];
    let re = "^";
    let last = 0;
    const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    for (const m of pattern.matchAll(/\{(\w+)\}/g)) {
      re += esc(pattern.slice(last, m.index)) + "([^:]+)";
      names.push(m[1]);
      last = m.index! + m[0].length;
    }
    const compiled = new RegExp(re + esc(pattern.slice(last)) + "$");
    return (topic: string) => {
      const m = compiled.exec(topic);
      return m ? Object.fromEntries(names.map((n, i) => [n, m[i + 1]])) : undefined;
    };
  };
  // A seeded generator: a failure replays.
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = (alphabet: string, max: number) => {
    let s = "";
    for (let i = Math.floor(random() * (max + 1)); i > 0; i--) {
      s += alphabet[Math.floor(random() * alphabet.length)];
    }
    return s;
  };
  for (let i = 0; i < 5000; i++) {
    const key = pick("_aZ9-é ", 12);
    assert.equal(camelize(key), oldCamelize(key), JSON.stringify(key));
    const part = pick("ab-_. !é:", 12);
    const expected = oldClean(part);
    if (expected) assert.equal(safeGroupName([part]), expected, JSON.stringify(part));
  }
  for (let p = 0; p < 400; p++) {
    let pattern = "";
    const params = Math.floor(random() * 4);
    for (let i = 0; i <= params; i++) {
      pattern += pick("ab:.-", 2);
      if (i < params) pattern += `{p${random() < 0.2 ? 0 : i}}`;
    }
    if (!pattern) continue;
    class T extends Topic {
      static override pattern = pattern;
    }
    const expected = oldParse(pattern);
    for (let q = 0; q < 40; q++) {
      const topic = q % 2
        ? pick("ab:.-", 9)
        : pattern.replace(/\{\w+\}/g, () => "x" + pick(q % 4 ? "ab.-" : "ab:.-", 3));
      assert.deepEqual(T.parse(topic), expected(topic), `${pattern} on ${JSON.stringify(topic)}`);
    }
  }
});

Deno.test("long group names keep their 64-bit FNV-1a digest", () => {
  // Values of the former BigInt implementation: group names stay the same across versions.
  assert.equal(safeGroupName(["x".repeat(120)]), `${"x".repeat(86)}.9dc30f7223c5`);
  assert.equal(
    safeGroupName(["Weekly Sync! 😀".repeat(10)], "room"),
    "room.Weekly-Sync-Weekly-Sync-Weekly-Sync-Weekly-Sync-Weekly-Sync-Weekly-Sync-Weekly-Sy" +
      ".9ac1ef44f83b",
  );
});

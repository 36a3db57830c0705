/** DeltaTracker: cumulative snapshots to deltas (Chanx's streaming utility). */
import { assert, DeltaTracker } from "./deps.ts";

Deno.test("push returns the new suffix of each snapshot", () => {
  const tracker = new DeltaTracker();
  assert.equal(tracker.push("Hel"), "Hel");
  assert.equal(tracker.push("Hello"), "lo");
  assert.equal(tracker.push("Hello"), "");
  assert.equal(tracker.push("Hello, world"), ", world");
  assert.equal(tracker.text, "Hello, world");
});

Deno.test("advance reports a rewrite and returns the whole snapshot", () => {
  const tracker = new DeltaTracker();
  assert.deepEqual(tracker.advance("The cat"), { delta: "The cat", rewritten: false });
  assert.deepEqual(tracker.advance("The cats"), { delta: "s", rewritten: false });
  assert.deepEqual(tracker.advance("The dog"), { delta: "The dog", rewritten: true });
  assert.equal(tracker.text, "The dog");
  // A shorter snapshot is a rewrite too (the source took text back).
  assert.deepEqual(tracker.advance("The"), { delta: "The", rewritten: true });
  assert.deepEqual(tracker.advance("There"), { delta: "re", rewritten: false });
});

Deno.test("the deltas, appended (or replacing on a rewrite), rebuild every snapshot", () => {
  const snapshots = ["", "a", "ab", "ab", "abc", "x", "xy", "xyz🙂", "xyz🙂!", "", "new"];
  const tracker = new DeltaTracker();
  let client = "";
  for (const s of snapshots) {
    const { delta, rewritten } = tracker.advance(s);
    client = rewritten ? delta : client + delta;
    assert.equal(client, s);
  }
});

Deno.test("an empty snapshot after text is a rewrite; reset starts over", () => {
  const tracker = new DeltaTracker();
  tracker.push("abc");
  assert.deepEqual(tracker.advance(""), { delta: "", rewritten: true });
  tracker.push("abc");
  tracker.reset();
  assert.equal(tracker.text, "");
  assert.deepEqual(tracker.advance("abcd"), { delta: "abcd", rewritten: false });
});

Deno.test("a non-string snapshot is a TypeError and leaves the text alone", () => {
  const tracker = new DeltaTracker();
  tracker.push("keep");
  assert.throws(() => tracker.push(undefined as unknown as string), TypeError);
  assert.equal(tracker.text, "keep");
});

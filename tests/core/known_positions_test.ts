/**
 * The known positions of a process's history groups (src/connection/known_positions.ts): what a
 * stream that cannot read its start starts from.
 */
import { assert } from "./deps.ts";
import { KnownPositions } from "../../src/connection/known_positions.ts";

Deno.test("known positions: a hold sees what was noted before it, not after", () => {
  const known = new KnownPositions();
  const first = known.hold("room");
  assert.equal(first.position, undefined, "nothing known yet");
  first.note(4, "e1");
  first.note(3, "e1"); // a lagging stream of the same epoch does not move it back
  const second = known.hold("room");
  assert.deepEqual(second.position, { offset: 4, epoch: "e1" });
  first.note(9, "e1");
  assert.deepEqual(second.position, { offset: 4, epoch: "e1" }, "a snapshot at the hold");
  second.note(2, "e2"); // another epoch: the history was made again
  assert.deepEqual(known.hold("room").position, { offset: 2, epoch: "e2" });
});

Deno.test("known positions: a group's entry goes with its last holder, once per hold", () => {
  const known = new KnownPositions();
  const a = known.hold("room");
  const b = known.hold("room");
  a.note(7, "e");
  a.release();
  a.release(); // idempotent: does not release b's hold
  assert.equal(known.size, 1);
  assert.deepEqual(known.hold("room").position, { offset: 7, epoch: "e" });
  b.release();
  assert.equal(known.size, 1, "the third hold is still open");
  const c = new KnownPositions();
  c.hold("x").release();
  assert.equal(c.size, 0, "no entry without a holder: bounded by the open streams");
  assert.equal(c.hold("x").position, undefined, "a new entry knows nothing");
});

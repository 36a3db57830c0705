/** KeyedOrder: the calls of one key run in call order, other keys' calls do not wait. */
import { assert } from "./deps.ts";
import { KeyedOrder } from "../../src/presence/keyed_order.ts";

Deno.test("KeyedOrder: one key's calls in call order; a first call starts at once", async () => {
  const order = new KeyedOrder();
  const seen: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const first = order.run("a", async () => {
    seen.push("a1 start");
    await gate;
    seen.push("a1 end");
  });
  assert.deepEqual(seen, ["a1 start"], "started synchronously");
  const second = order.run("a", () => {
    seen.push("a2");
    return Promise.reject(new Error("a2 failed"));
  });
  const third = order.run("a", () => Promise.resolve(seen.push("a3")));
  await order.run("b", () => Promise.resolve(seen.push("b1"))); // another key: no wait
  assert.deepEqual(seen, ["a1 start", "b1"]);
  release();
  await first;
  await assert.rejects(second, /a2 failed/);
  await third;
  assert.deepEqual(seen, ["a1 start", "b1", "a1 end", "a2", "a3"], "a failure does not block");
  await new Promise((r) => setTimeout(r, 0)); // every microtask ran (not a timed wait)
  assert.equal(order.size, 0, "settled keys are forgotten");
  const thrown = order.run("c", () => {
    throw new Error("sync throw");
  });
  await assert.rejects(thrown, /sync throw/);
});

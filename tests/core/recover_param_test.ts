/** The `recover` query parameter (docs/recovery.md): what is read, and the bounds of bad input. */
import { assert } from "./deps.ts";
import {
  MAX_RECOVER_LENGTH,
  MAX_RECOVER_STREAMS,
  parseRecoverParam,
} from "../../src/connection/recover_param.ts";

const url = (value: unknown) =>
  `http://x/ws?recover=${
    encodeURIComponent(typeof value === "string" ? value : JSON.stringify(value))
  }`;

Deno.test("recover parameter: groups and topics are read; none is undefined", () => {
  assert.equal(parseRecoverParam("http://x/ws"), undefined);
  const read = parseRecoverParam(url({
    groups: { lobby: { offset: 3, epoch: "e1" } },
    topics: { "room:a": { offset: 0, epoch: "e2" } },
  }));
  assert.ok(typeof read === "object");
  assert.deepEqual([...read!.groups], [["lobby", { offset: 3, epoch: "e1" }]]);
  assert.deepEqual([...read!.topics], [["room:a", { offset: 0, epoch: "e2" }]]);
});

Deno.test("recover parameter: bad input is refused with a bounded reason, never thrown", () => {
  const cases: Array<[unknown, RegExp]> = [
    ["{nope", /not JSON/],
    [[1, 2], /not an object/],
    [{ groups: [] }, /'groups' not an object/],
    [{ groups: { g: { offset: -1, epoch: "e" } } }, /not valid/],
    [{ groups: { g: { offset: 1.5, epoch: "e" } } }, /not valid/],
    [{ groups: { g: { offset: 1, epoch: "e".repeat(65) } } }, /not valid/],
    [{ topics: { t: { offset: 1 } } }, /not valid/],
    ["x".repeat(MAX_RECOVER_LENGTH + 1), /longer than 8192/],
  ];
  for (const [value, reason] of cases) {
    const read = parseRecoverParam(url(value));
    assert.equal(typeof read, "string", JSON.stringify(value).slice(0, 40));
    assert.match(read as string, reason);
  }
  const many = Object.fromEntries(
    Array.from({ length: MAX_RECOVER_STREAMS + 1 }, (_, i) => [`g${i}`, { offset: 0, epoch: "e" }]),
  );
  assert.match(parseRecoverParam(url({ groups: many })) as string, /more than 100 streams/);
});

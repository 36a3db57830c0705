/**
 * The "reconnect of each connection in either order" cases of the layer conformance suite
 * (issue 16): both connection roles of a layer (the ones it hears on, the ones it sends on) drop
 * and come back one after the other, in either order. They run for harnesses whose
 * {@linkcode LayerFaults} can route each role through its own proxies (`makeSplit`).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { LayerMessage } from "../../src/layers/kit.ts";
import type { LayerCapabilities, LayerFaults } from "./conformance.ts";
import {
  BOUND_MS,
  eventually,
  FAST,
  noData,
  receiveData,
  type TestFn,
  unavailableWithin,
  untilDelivered,
  within,
} from "./conformance_faults.ts";

/**
 * How soon a message to a name the layer starts hearing after the reconnect must arrive: well
 * under the 2 s a blocking read waits before it re-reads its keys (a reader that unblocks with a
 * stale connection id would wait that long).
 */
const PROMPT_MS = 1000;

/** Receives data messages on `channel` until `done(got)`, then asserts nothing else comes. */
async function collect(
  layer: Parameters<typeof receiveData>[0],
  channel: string,
  done: (got: LayerMessage[]) => boolean,
): Promise<LayerMessage[]> {
  const got: LayerMessage[] = [];
  while (!done(got)) got.push(await receiveData(layer, channel));
  await noData(layer, channel);
  return got;
}

const ofType = (got: LayerMessage[], type: string) =>
  got.filter((m) => m.type === type).map((m) => m.i);
const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Registers the cases with the suite's `test`. */
export function reconnectCases(test: TestFn, caps: LayerCapabilities): void {
  for (const first of ["listener", "commands"] as const) {
    const what = first === "listener" ? "subscriber/reader" : "command";
    test(
      `both connection roles drop, the ${what} connections come back first: delivery resumes, ` +
        "nothing lost or doubled, resync as documented, sends from onResync work",
      async (h) => {
        const split = await (h.faults as LayerFaults).makeSplit(FAST);
        const { layer } = split;
        const sender = await h.make(FAST);
        const member = await layer.newChannel();
        const direct = await layer.newChannel();
        const probes = await layer.newChannel();
        // Names under several prefixes: on a layer with a reader per host, every host's reader
        // runs (and blocks) before the drop, so the fresh names below change a running reader's keys.
        for (let i = 0; i < 12; i++) await layer.newChannel(`warm${i}`);
        await layer.groupAdd("g", member);
        const back = await sender.newChannel(); // where the layer's own sends arrive
        await sender.groupSend("g", { type: "before" });
        assert.deepEqual(await receiveData(layer, member), { type: "before" });

        // A pub/sub layer signals one resync per host whose subscriber came back (and only once
        // it can send again); a layer that stores until read loses nothing, so it signals none.
        const expectedResyncs = caps.storesUntilRead ? 0 : split.listener.length;
        const events: string[] = [];
        const fromResync: Promise<void>[] = [];
        let resynced!: () => void;
        const allResynced = new Promise<void>((resolve) => resynced = resolve);
        if (expectedResyncs === 0) resynced();
        layer.onEvent!((event) => {
          events.push(event.type);
          if (event.type !== "resync") return;
          // What an onResync handler does: send at once, to others and to itself. It must work.
          const n = fromResync.length / 2;
          for (const to of [back, direct]) {
            fromResync.push(layer.send(to, { type: "from.resync", i: n }).then(() => undefined));
            fromResync.at(-1)!.catch(() => {}); // awaited below, once both roles are back
          }
          if (events.filter((e) => e === "resync").length === expectedResyncs) resynced();
        });
        const resyncs = () => events.filter((e) => e === "resync").length;

        const later = first === "listener" ? split.commands : split.listener;
        const sooner = first === "listener" ? split.listener : split.commands;
        for (const p of later) {
          p.pause(); // its reconnect is held until resume()
          p.dropAll();
        }
        for (const p of sooner) p.dropAll();
        // Sent while the layer is away: a layer that stores until read delivers each once
        // after the recovery; pub/sub may lose them, but never delivers one twice.
        for (let i = 0; i < 3; i++) {
          await sender.groupSend("g", { type: "gap.group", i });
          await sender.send(direct, { type: "gap.direct", i });
        }
        if (first === "listener") {
          // The layer hears again while it cannot send yet.
          await untilDelivered(sender, layer, probes);
          await unavailableWithin(
            () => layer.send(back, { type: "x" }),
            "send while the command connections are away",
          );
        } else {
          // The layer sends again while it cannot hear yet.
          await eventually(() => layer.groupSend("nobody", { type: "probe" }));
        }
        assert.equal(resyncs(), 0, `resync before both roles were back: ${events}`);

        for (const p of later) p.resume();
        await eventually(() => layer.groupSend("nobody", { type: "probe" }));
        await untilDelivered(sender, layer, probes);
        await within(allResynced, 10_000, `${expectedResyncs} resync signal(s)`);
        await within(Promise.all(fromResync), BOUND_MS, "sends from the resync handler");

        // Sent once both roles are back: every one arrives, once, in order.
        for (let i = 0; i < 5; i++) {
          await sender.groupSend("g", { type: "after.group", i });
          await sender.send(direct, { type: "after.direct", i });
          await layer.send(back, { type: "after.out", i });
        }
        const gapOk = (ids: unknown[]) => {
          const sorted = [...ids].sort();
          if (caps.storesUntilRead) assert.deepEqual(sorted, upTo(3), "gap messages: each once");
          else assert.deepEqual(sorted, [...new Set(sorted)], "gap messages: none twice");
        };
        const onMember = await collect(layer, member, (g) => ofType(g, "after.group").length === 5);
        assert.deepEqual(ofType(onMember, "after.group"), upTo(5));
        gapOk(ofType(onMember, "gap.group"));
        assert.equal(
          onMember.length,
          5 + ofType(onMember, "gap.group").length,
          JSON.stringify(onMember),
        );
        const onDirect = await collect(
          layer,
          direct,
          (g) =>
            ofType(g, "after.direct").length === 5 &&
            ofType(g, "from.resync").length === expectedResyncs,
        );
        assert.deepEqual(ofType(onDirect, "after.direct"), upTo(5));
        assert.deepEqual(ofType(onDirect, "from.resync"), upTo(expectedResyncs));
        gapOk(ofType(onDirect, "gap.direct"));
        const directCount = 5 + expectedResyncs + ofType(onDirect, "gap.direct").length;
        assert.equal(onDirect.length, directCount, JSON.stringify(onDirect));
        const onBack = await collect(
          sender,
          back,
          (g) =>
            ofType(g, "after.out").length === 5 &&
            ofType(g, "from.resync").length === expectedResyncs,
        );
        assert.deepEqual(ofType(onBack, "after.out"), upTo(5));
        assert.deepEqual(ofType(onBack, "from.resync"), upTo(expectedResyncs));
        assert.equal(onBack.length, 5 + expectedResyncs, JSON.stringify(onBack));

        // Names the layer starts hearing after the reconnect are heard at once (after the quiet
        // checks above, a blocking reader is blocked: it must be unblocked with its new id).
        for (let i = 0; i < 3; i++) {
          const fresh = await layer.newChannel(`fresh${i}`);
          const started = performance.now();
          await sender.send(fresh, { type: "fresh", i });
          assert.deepEqual(await receiveData(layer, fresh, PROMPT_MS), { type: "fresh", i });
          console.log(`fresh name ${i} heard after ${Math.round(performance.now() - started)} ms`);
          await noData(layer, fresh);
        }
        assert.equal(resyncs(), expectedResyncs, `resync signals: ${events}`);
      },
      !!caps.faults,
    );
  }
}

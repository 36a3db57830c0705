/**
 * The conformance suite on the NATS layer: on a private `nats-server` started per test (always;
 * with the fault cases), and on the server of `NATS_URL` when it is set.
 */
import { layerConformanceSuite } from "./conformance.ts";
import { maxPayload, NATS_URL, privateNatsHarness, sharedNatsHarness } from "./nats_harness.ts";
import { skipReason } from "../../testing/services.ts";

const caps = {
  senderCapacity: false,
  localCapacity: "drops",
  expiry: true,
  groupExpiry: false,
  sharedState: true,
} as const;

layerConformanceSuite("nats", privateNatsHarness(), {
  ...caps,
  faults: true,
  restartable: true,
  skip: skipReason("nats"),
});

if (NATS_URL) {
  layerConformanceSuite("nats (NATS_URL)", sharedNatsHarness(), {
    ...caps,
    megabyteMessages: await maxPayload(NATS_URL) > 1.1 * 1024 * 1024,
  });
}

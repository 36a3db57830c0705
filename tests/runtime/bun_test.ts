/**
 * The runtime suite on Bun, from `deno task test`: runs tests/runtime/bun_suite.mjs, the native
 * fan-out checks (tests/runtime/bun_fanout.mjs) and the adapter's own (tests/runtime/bun_adapter.mjs)
 * with Bun, and fails with their output when a case fails. Ignored, saying why, when no Bun is found (`.ci/bun.sh` installs it from npm).
 */
import assert from "node:assert/strict";
import { bunArgs, findBun, ROOT } from "../../scripts/bun.ts";
import { startNats } from "../../testing/nats_server.ts";
import { skipReason } from "../../testing/services.ts";

const bun = findBun();

const FILES = [
  "tests/runtime/bun_suite.mjs",
  "tests/runtime/bun_fanout.mjs",
  "tests/runtime/bun_adapter.mjs",
];

for (const file of FILES) {
  Deno.test({
    name: `bun: ${file}${bun ? "" : " [skipped: no bun (source .ci/bun.sh; ensure_bun)]"}`,
    ignore: !bun,
    async fn() {
      // The fan-out checks run over the NATS layer too, on a private nats-server (REDIS_URL,
      // when set, is inherited for the Redis case).
      await using nats = file.endsWith("bun_fanout.mjs") && skipReason("nats") === undefined
        ? await startNats()
        : undefined;
      const out = await new Deno.Command(bun!, {
        args: bunArgs(file),
        cwd: ROOT,
        env: {
          SEND_COMPLETION: "1",
          SWITCHBOARD_LOG: "error",
          ...(nats ? { NATS_URL: nats.url } : {}),
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      const summary = /(\d+) passed \| (\d+) failed/.exec(text);
      assert.ok(out.success && summary && summary[2] === "0", text);
      assert.ok(Number(summary[1]) > 0, `no case ran:\n${text}`);
    },
  });
}

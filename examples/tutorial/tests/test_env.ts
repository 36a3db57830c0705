/**
 * Imported first by every tutorial test: turns completion signals on, as the testing chapter's
 * pytest.ini does (`deno task test` sets SEND_COMPLETION too), and gives this test file its own
 * Redis namespace so that test files running at the same time never share groups.
 *
 * The namespace is this file's, not the process's: under `deno test --parallel` every test file
 * runs in the same process (one environment), so it is not taken from or written to
 * SWITCHBOARD_PREFIX (unless the run set one); the tutorial's layers are registered with it here,
 * before the app module registers them.
 */
if (!Deno.env.get("SEND_COMPLETION")) Deno.env.set("SEND_COMPLETION", "1");
// Job delays are real but scaled: 2 s of "translation" become 10 ms.
if (!Deno.env.get("JOB_DELAY_SCALE")) Deno.env.set("JOB_DELAY_SCALE", "0.005");

/** This test file's Redis namespace (pass it as SWITCHBOARD_PREFIX to processes it starts). */
export const TEST_PREFIX: string = Deno.env.get("SWITCHBOARD_PREFIX") ??
  `test-${crypto.randomUUID().slice(0, 8)}`;

// Imported after the variables above are set (a static import would be evaluated before them).
const { setupLayers } = await import("../layers.ts");
setupLayers({ prefix: TEST_PREFIX });

/**
 * The tutorial app mounts `/metrics` (open on loopback: HOST unset) and the inspector (behind the
 * API token), and its job queue's depth is read at each scrape.
 */
import "../../examples/tutorial/tests/test_env.ts";
import assert from "node:assert/strict";
import { app } from "../../examples/tutorial/app.ts";
import { apiToken, metricsToken, withSettings } from "../../examples/tutorial/settings.ts";
import { closeJobQueue } from "../../examples/tutorial/background_jobs/queue.ts";

Deno.test("tutorial: /metrics is open on loopback, the inspector needs the API token", async () => {
  assert.equal(metricsToken(), undefined);
  const metrics = await app.fetch(new Request("http://127.0.0.1/metrics"));
  assert.equal(metrics.status, 200);
  const text = await metrics.text();
  assert.match(text, /^# TYPE switchboard_connections_open gauge$/m);
  assert.match(
    text,
    /^switchboard_job_queue_depth\{queue="jobs",state="queued"\} \d+$/m,
  );
  const refused = await app.fetch(new Request("http://127.0.0.1/inspector"));
  await refused.body?.cancel();
  assert.equal(refused.status, 401);
  const page = await app.fetch(
    new Request(`http://127.0.0.1/inspector?token=${apiToken().token}`),
  );
  assert.equal(page.status, 200);
  assert.match(await page.text(), /Switchboard inspector/);
  // The scrape opened the tutorial's job queue (a NATS or Redis connection with NATS_URL or
  // REDIS_URL set): close it, as the tutorial's own job tests do.
  await closeJobQueue();
});

Deno.test("tutorial: a server bound elsewhere puts /metrics behind the API token", () => {
  // withSettings, not Deno.env: other test files read the process's environment meanwhile.
  withSettings({ HOST: "0.0.0.0" }, () => assert.equal(metricsToken(), apiToken().token));
});

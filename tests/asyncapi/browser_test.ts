/**
 * The docs page in a real headless Chromium (Debian's `chromium`, driven by `playwright-core`):
 * the tutorial app serves `/asyncapi` with the React component from node_modules (no network),
 * and every operation and channel of the document must be rendered. A screenshot is saved to
 * tests/screenshots/asyncapi.png (git-ignored).
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`; CI installs it). Without it the test is
 * skipped locally, and fails under CI.
 */
import "../../examples/tutorial/tests/test_env.ts";
import assert from "node:assert/strict";
import { app } from "../../examples/tutorial/app.ts";
import type { AsyncApiDocument } from "../../mod.ts";
import { haveChromium, launchChromium, SCREENSHOTS } from "../helpers/browser.ts";

Deno.test({
  name: "browser: /asyncapi renders every channel and operation (local assets, Chromium)",
  ignore: !haveChromium,
  async fn() {
    const external: string[] = [];
    const problems: string[] = [];
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
    const origin = `http://127.0.0.1:${server.addr.port}`;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1920, height: 1200 } });
      page.on("request", (r) => {
        if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) external.push(r.url());
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console error: ${m.text()}`);
      });
      page.on("response", (r) => {
        if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
      });
      const doc: AsyncApiDocument = await (await fetch(`${origin}/asyncapi.json`)).json();

      await page.goto(`${origin}/asyncapi`);
      await page.waitForSelector("#operations", { timeout: 30_000 });
      await page.waitForSelector("#messages", { timeout: 30_000 });
      await Deno.mkdir(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: new URL("asyncapi.png", SCREENSHOTS).pathname });

      const rendered = await page.evaluate(() => {
        // Runs in the page; minimal DOM types (this file is type-checked without lib.dom).
        type El = { id: string; innerText: string; textContent: string | null };
        const dom = (globalThis as unknown as {
          document: {
            body: El;
            querySelector(s: string): El | null;
            querySelectorAll(s: string): El[];
          };
        }).document;
        return {
          all: dom.body.innerText,
          sidebar: dom.querySelector(".sidebar")?.textContent ?? "",
          blocks: [...dom.querySelectorAll("#operations li")].map((li) => ({
            id: li.id,
            text: li.innerText,
          })),
        };
      });
      // The text is set in a sans-serif system stack, not the browser's default serif (issue 17).
      const fonts = await page.evaluate(() => {
        // deno-lint-ignore no-explicit-any
        const g = globalThis as any;
        const font = (s: string) => g.getComputedStyle(g.document.querySelector(s)).fontFamily;
        return { operations: font("#operations"), body: font("body") };
      });
      for (const [where, family] of Object.entries(fonts)) {
        assert.match(family, /^system-ui, .*sans-serif$/, `${where} font: ${family}`);
      }
      assert.deepEqual(problems, [], "errors while rendering");
      assert.deepEqual(external, [], "the page must not load anything from elsewhere");
      assert.ok(rendered.all.includes(doc.info.title), "title");
      assert.ok(rendered.all.includes(doc.info.description!), "description");

      // Every operation: in the sidebar and as an "Operation ID" in the main panel.
      for (const id of Object.keys(doc.operations)) {
        assert.ok(rendered.sidebar.includes(id), `operation ${id} in the sidebar`);
        assert.ok(
          rendered.blocks.some((b) => b.text.includes(`Operation ID${id}`)),
          `operation ${id} rendered`,
        );
      }
      // Every channel: the component names AsyncAPI 3 channels by address (channel keys are not
      // displayed), so a channel is found by its address and description in an operation block
      // of that channel.
      for (const [name, channel] of Object.entries(doc.channels)) {
        const ops = Object.entries(doc.operations)
          .filter(([, op]) => (op.channel as { $ref: string }).$ref === `#/channels/${name}`)
          .map(([id]) => id);
        assert.ok(ops.length > 0, `channel ${name} has operations`);
        const block = rendered.blocks.find((b) => b.text.includes(`Operation ID${ops[0]}`));
        assert.ok(block, `block of ${ops[0]}`);
        assert.ok(block.text.includes(channel.address as string), `channel ${name}: address`);
        if (channel.description) {
          assert.ok(
            block.text.includes(channel.description as string),
            `channel ${name}: description`,
          );
        }
      }
      // Every message component in the sidebar.
      for (const key of Object.keys(doc.components.messages)) {
        assert.ok(rendered.sidebar.includes(key), `message ${key} in the sidebar`);
      }
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});

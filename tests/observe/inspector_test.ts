/**
 * The inspector (issue 23): refused without its token (page 401, socket 401) or with another
 * (403); a snapshot over its WebSocket reflects traffic; and in a real headless Chromium
 * (playwright-core, Debian's chromium) the page shows the connections, groups, rates and errors
 * made by the test, live. The screenshot goes to tests/screenshots/inspector.png (git-ignored).
 */
import { type InspectorSnapshot, mountInspector } from "../../adapters/inspector/mod.ts";
import { App, assert, serveForTests, WebsocketCommunicator } from "../core/deps.ts";
import { EchoConsumer, freshLayer, Say } from "../core/fixtures.ts";
import { haveChromium, launchChromium, SCREENSHOTS } from "../helpers/browser.ts";

const TOKEN = "inspect-me";

function inspectedApp(): App {
  const app = new App().ws("/echo", EchoConsumer);
  mountInspector(app, { token: TOKEN, intervalMs: 100 });
  return app;
}

Deno.test("the inspector needs its token: 401 without, 403 with another, page and socket alike", async () => {
  freshLayer();
  assert.throws(() => mountInspector(new App(), {} as never), TypeError);
  await using server = await serveForTests(inspectedApp());
  const http = server.url.replace("ws:", "http:");
  for (const [query, status] of [["", 401], ["?token=wrong", 403]] as const) {
    const page = await fetch(`${http}/inspector${query}`);
    await page.body?.cancel();
    assert.equal(page.status, status, `page ${query}`);
    const socket = await fetch(`${http}/inspector/ws${query}`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
    await socket.body?.cancel();
    assert.equal(socket.status, status, `socket ${query}`);
  }
  const ok = await fetch(`${http}/inspector?token=${TOKEN}`);
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /Switchboard inspector/);
  const bearer = await fetch(`${http}/inspector`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  await bearer.body?.cancel();
  assert.equal(bearer.status, 200);
});

Deno.test("the inspector's socket pushes snapshots that reflect the traffic", async () => {
  freshLayer();
  const app = inspectedApp();
  await using server = await serveForTests(app);
  await using client = await WebsocketCommunicator.connect(app, "/echo", {
    consumer: EchoConsumer,
    url: server.url,
  });
  await client.sendMessage(Say.create({ text: "hello" }));
  await client.receiveJson();
  await client.receiveJson();
  await client.sendJson({ action: "nope", payload: null });
  await client.receiveJson();
  await client.receiveJson();
  await using inspector = await WebsocketCommunicator.connect(
    app,
    `/inspector/ws?token=${TOKEN}`,
    {
      url: server.url,
    },
  );
  const frame = await inspector.receiveJson() as {
    action: string;
    payload: InspectorSnapshot;
  };
  assert.equal(frame.action, "inspector.snapshot");
  const s = frame.payload;
  assert.equal(s.connections.byConsumer.EchoConsumer, 1);
  assert.ok(
    s.groups.some((g) => g.group === "echo-all" && g.members === 1),
    JSON.stringify(s.groups),
  );
  assert.equal(s.rates.find((r) => r.action === "say")?.inTotal, 1);
  assert.equal(s.rates.find((r) => r.action === "unknown")?.inTotal, 1);
  assert.equal(s.errors[0].type, "union_tag_invalid");
  // The next snapshots keep coming (live), and see new traffic.
  await client.sendMessage(Say.create({ text: "again" }));
  await client.receiveJson();
  let next: InspectorSnapshot;
  do {
    next = (await inspector.receiveJson() as { payload: InspectorSnapshot }).payload;
  } while (next.rates.find((r) => r.action === "say")?.inTotal !== 2);
  assert.ok(next.at > s.at);
});

Deno.test({
  name: "browser: the inspector page shows the test's traffic, live (Chromium)",
  ignore: !haveChromium,
  async fn() {
    freshLayer();
    const app = inspectedApp();
    await using server = await serveForTests(app);
    const http = server.url.replace("ws:", "http:");
    const clients: WebsocketCommunicator[] = [];
    const browser = await launchChromium();
    const problems: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        clients.push(
          await WebsocketCommunicator.connect(app, "/echo", {
            consumer: EchoConsumer,
            url: server.url,
          }),
        );
      }
      for (const c of clients) {
        await c.sendMessage(Say.create({ text: "hi" }));
        await c.receiveJson();
        await c.receiveJson();
      }
      await clients[0].sendJson({ action: "bogus_action", payload: null });
      await clients[0].receiveJson();
      await clients[0].receiveJson();

      const page = await browser.newPage({
        viewport: { width: 1400, height: 1000 },
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console error: ${m.text()}`);
      });
      await page.goto(`${http}/inspector?token=${TOKEN}`);
      await page.waitForFunction(
        () =>
          (globalThis as unknown as {
            document: {
              getElementById(id: string): { textContent: string } | null;
            };
          })
            .document.getElementById("status")?.textContent === "live",
        undefined,
        { timeout: 15_000 },
      );
      const text = (id: string) =>
        page.evaluate((id) =>
          (globalThis as unknown as {
            document: {
              getElementById(id: string): { innerText: string } | null;
            };
          }).document.getElementById(id)?.innerText ?? "", id);
      // Open connections: the 3 echo clients and the page's own socket.
      await page.waitForFunction(
        () =>
          (globalThis as unknown as {
            document: {
              querySelector(s: string): { textContent: string } | null;
            };
          })
            .document.querySelector("#card-connections b")?.textContent === "4",
        undefined,
        { timeout: 15_000 },
      );
      const consumers = await text("consumers");
      assert.match(consumers, /EchoConsumer\s+3/);
      assert.match(consumers, /InspectorConsumer\s+1/);
      assert.match(await text("groups"), /echo-all\s+3/);
      assert.match(await text("rates"), /say\b/);
      assert.match(await text("errors"), /union_tag_invalid/);

      // Live: traffic made now shows up without a reload.
      for (let i = 0; i < 5; i++) {
        await clients[1].sendMessage(Say.create({ text: `more ${i}` }));
        await clients[1].receiveJson();
        await clients[1].receiveJson();
      }
      await page.waitForFunction(
        () => {
          const rows = (globalThis as unknown as {
            document: {
              querySelectorAll(s: string): Array<{ innerText: string }>;
            };
          }).document.querySelectorAll("#rates tr");
          // the "say" row: action, in/s, out/s, in total (8 = 3 + 5), out total
          return [...rows].some((r) =>
            r.innerText.trim().split(/\s+/)[0] === "say" &&
            r.innerText.trim().split(/\s+/)[3] === "8"
          );
        },
        undefined,
        { timeout: 15_000 },
      );
      await Deno.mkdir(SCREENSHOTS, { recursive: true });
      await page.screenshot({
        path: new URL("inspector.png", SCREENSHOTS).pathname,
        fullPage: true,
      });
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      for (const c of clients) await c.disconnect();
    }
  },
});

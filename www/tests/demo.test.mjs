// The demo page in real headless Chromium: the wasm loads, the wallet links an installation,
// the database opens and the node answers. Run by `cargo xtask test`, which serves the page and starts devnode (DEMO_URL).
import assert from "node:assert/strict";
import { test } from "node:test";
import { launch, saveScreenshot } from "./browser.mjs";

const url = process.env.DEMO_URL;

test("the demo page loads the wasm, opens IndexedDB and reaches devnode", async () => {
  assert.ok(url, "DEMO_URL is set by `cargo xtask test`");
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(url);
    // A guard against a hang, not a speed check.
    await page.waitForSelector('#status:not([data-state="loading"])', { timeout: 60_000 });
    await page.waitForSelector("#node[data-state]", { timeout: 60_000 });
    await saveScreenshot(page, "demo.png");

    assert.equal(await page.textContent("#error"), "");
    assert.equal(await page.getAttribute("#status", "data-state"), "ok");
    assert.equal(await page.getAttribute("#node", "data-state"), "ok");
    assert.match(await page.textContent("#wasm"), /^loaded, SDK \d+\.\d+\.\d+/);
    assert.match(await page.textContent("#db"), /schema version \d+$/);
    assert.match(await page.textContent("#node"), /published 1, read back 1 on \/xmtp\/0\/probe-/);
    assert.match(await page.textContent("#key"), /^[A-Za-z0-9+/]{43}$/);
    assert.match(await page.textContent("#address"), /^0x[0-9a-f]{40}$/);
    assert.match(await page.textContent("#installation"), /^[0-9a-f]{32}$/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("the demo's wallet says it is a throwaway, and can be forgotten", async () => {
  assert.ok(url, "DEMO_URL is set by `cargo xtask test`");
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const dialogs = [];
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      dialog.accept();
    });
    await page.goto(url);
    await page.waitForSelector('#status[data-state="ok"]', { timeout: 60_000 });
    assert.deepEqual(dialogs, [], "a node on this machine is used without asking");
    assert.equal(await page.textContent("#wallet"), "throwaway, kept in this page's storage");
    assert.ok(await page.isVisible("#throwaway"));
    assert.match(await page.textContent("#throwaway"), /throwaway.*this page's storage/s);
    const first = await page.textContent("#address");
    const dbName = `e2ee-sdk-demo:${first}`;
    const databases = () => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
    assert.ok((await databases()).includes(dbName));

    await Promise.all([page.waitForEvent("load"), page.click("#forget")]);
    await page.waitForSelector('#status[data-state="ok"]', { timeout: 60_000 });
    assert.equal(dialogs.length, 1, "forgetting asks first");
    const second = await page.textContent("#address");
    assert.notEqual(second, first, "a new wallet after forgetting the old one");
    assert.ok(!(await databases()).includes(dbName), "the old wallet's database is deleted");
  } finally {
    await browser.close();
  }
});

test("?node= off this machine is used only if the visitor confirms it", async () => {
  assert.ok(url, "DEMO_URL is set by `cargo xtask test`");
  // TEST-NET-1: never routed, so nothing is ever sent anywhere by this test.
  const remote = "http://192.0.2.1:5555";
  const crafted = new URL(url);
  crafted.searchParams.set("node", remote);
  const browser = await launch();
  try {
    for (const accept of [false, true]) {
      const page = await browser.newPage();
      const dialogs = [];
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        return accept ? dialog.accept() : dialog.dismiss();
      });
      const toRemote = [];
      page.on("request", (request) => {
        if (request.url().startsWith(remote)) toRemote.push(request.url());
      });
      if (accept) {
        // Confirmed: the client goes to that node.
        await Promise.all([
          page.waitForEvent("request", { predicate: (r) => r.url().startsWith(remote), timeout: 60_000 }),
          page.goto(crafted.href),
        ]);
      } else {
        await page.goto(crafted.href);
        await page.waitForSelector('#status[data-state="error"]', { timeout: 60_000 });
        assert.equal(await page.getAttribute("#node", "data-state"), "refused");
        assert.match(await page.textContent("#node"), /192\.0\.2\.1:5555 is not on this machine/);
        assert.match(await page.textContent("#error"), /not on this machine/);
        assert.deepEqual(toRemote, [], "a declined node is never contacted");
      }
      assert.equal(dialogs.length, 1);
      assert.match(dialogs[0], /192\.0\.2\.1:5555, which is not on this machine/);
      await page.close();
    }
  } finally {
    await browser.close();
  }
});

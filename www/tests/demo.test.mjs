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

// The demo page in real headless Chromium: the wasm loads, the wallet links an installation,
// the database opens and the node answers. Run by `cargo xtask test`, which serves the page and starts devnode (DEMO_URL).
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { chromium } from "playwright-core";

const url = process.env.DEMO_URL;
const root = new URL("../../", import.meta.url);

/** Chromium's arguments, shared with the wasm tests' webdriver.json (headless is Playwright's). */
function chromiumArgs() {
  const config = JSON.parse(readFileSync(new URL("webdriver.json", root), "utf8"));
  return config["goog:chromeOptions"].args.filter((arg) => !arg.startsWith("--headless"));
}

test("the demo page loads the wasm, opens IndexedDB and reaches devnode", async () => {
  assert.ok(url, "DEMO_URL is set by `cargo xtask test`");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: chromiumArgs(),
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(url);
    // A guard against a hang, not a speed check.
    await page.waitForSelector('#status:not([data-state="loading"])', { timeout: 60_000 });
    const results = "test-results";
    mkdirSync(new URL(results, root), { recursive: true });
    await page.screenshot({ path: new URL(`${results}/demo.png`, root).pathname, fullPage: true });

    assert.equal(await page.textContent("#error"), "");
    assert.equal(await page.getAttribute("#status", "data-state"), "ok");
    assert.match(await page.textContent("#wasm"), /^loaded, SDK \d+\.\d+\.\d+/);
    assert.match(await page.textContent("#db"), /schema version 1$/);
    assert.match(await page.textContent("#node"), /published 1, read back 1 on \/xmtp\/0\/probe-/);
    assert.match(await page.textContent("#key"), /^[A-Za-z0-9+/]{43}$/);
    assert.match(await page.textContent("#address"), /^0x[0-9a-f]{40}$/);
    assert.match(await page.textContent("#installation"), /^[0-9a-f]{32}$/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
